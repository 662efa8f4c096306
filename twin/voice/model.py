"""The voice model: does a text sound like the author? A score in [0, 1] with its reasons.

One linear model over three views of a text: words (TF-IDF), character n-grams (TF-IDF:
spelling, punctuation, emoji, line breaks) and the stylometric habits of ``twin.voice.style``
(standardised). With ``voice.mask_topic_words`` (the default) the word and character views see
the text distorted (Stamatatos, "Authorship attribution using text distortion", 2017): every
word that is not a common function word has its letters masked (``*``) and its digits (``#``),
so the views measure how the author writes (function words, punctuation, word lengths), not
what about: a draft on her topics in someone else's voice does not pass for hers. The two views
also see the text without its layout (white space runs are one space) and without hashtags:
line breaks and hashtags are what the shaping of a draft gives every post from the author's
channel profile, so they cannot tell her drafts from anyone's; the habits view, which reads the
text as written, still counts them, at its small weight.

Logistic regression with balanced classes separates the author's texts from
other people's; Platt scaling fitted on cross-validated scores turns its log-odds into a
calibrated probability (0.5: as likely the author's as anyone else's, whatever the class
sizes). Platt's own targets, (N+ + 1)/(N+ + 2) and 1/(N- + 2), keep the calibration finite when
the cross-validated scores separate the classes perfectly (a few dozen texts often do): with
hard 0/1 targets the slope runs off and every score becomes 0 or 1. A text shorter than the
pieces the model learned from (``voice.min_piece_words``) carries that fraction of the
evidence: its calibrated log-odds are scaled by it, toward even odds. Because the model is
linear, each feature's share of the log-odds is exact, and the largest shares are the
evidence, written in words.

Saved as JSON (vocabularies, settings, card) plus an ``.npz`` of float arrays, loaded
without pickle: a model folder from anywhere can be opened safely, in milliseconds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from twin.markup import HASHTAG
from twin.settings import Settings, VoiceSettings
from twin.voice import style

FORMAT = 3
MODEL_FILE = "voice.json"
WEIGHTS_FILE = "voice_weights.npz"
_WORD_PATTERN = r"(?u)\b[^\W\d_][^\W\d_'\u2019]*(?:['\u2019][^\W\d_]+)?\b"
_Z_CLIP = 5.0
_TOKEN = re.compile(r"[^\W_]+(?:['\u2019][^\W\d_]+)?")
_CONTRACTIONS = frozenset((
    "i'm", "i've", "i'd", "i'll", "you're", "you've", "you'd", "you'll", "we're", "we've",
    "we'd", "we'll", "they're", "they've", "they'd", "they'll", "he's", "she's", "it's",
    "that's", "there's", "here's", "what's", "who's", "let's", "don't", "doesn't", "didn't",
    "isn't", "aren't", "wasn't", "weren't", "haven't", "hasn't", "hadn't", "won't", "wouldn't",
    "can't", "couldn't", "shouldn't", "mustn't"))
FUNCTION_WORDS = frozenset(ENGLISH_STOP_WORDS) | _CONTRACTIONS
"""Words kept as they are when topic words are masked: scikit-learn's English stop words (318
function words) and their common contractions."""


def text_view(text: str, masked: bool = True) -> str:
    """What the word and character views read of ``text``: hashtags taken out, topic words
    masked (when ``masked``), every run of white space one space."""
    text = HASHTAG.sub(" ", text)
    return " ".join((mask_topic_words(text) if masked else text).split())


def mask_topic_words(text: str) -> str:
    """``text`` with every word outside :data:`FUNCTION_WORDS` masked letter by letter
    (``*``; digits ``#``): punctuation, spacing, line breaks and word lengths stay."""
    def mask(match: re.Match[str]) -> str:
        word = match.group(0)
        if word.lower().replace("\u2019", "'") in FUNCTION_WORDS:
            return word
        return "".join("#" if ch.isdigit() else "*" if ch.isalnum() else ch for ch in word)

    return _TOKEN.sub(mask, text)


@dataclass(frozen=True)
class Evidence:
    """One reason for a score: what it says, and how far it moved the log-odds (> 0: up)."""

    text: str
    weight: float


@dataclass(frozen=True)
class VoiceScore:
    """How much a text sounds like the author (0..1) and why."""

    score: float
    evidence: list[Evidence] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for an API answer or a card."""
        return {"score": round(self.score, 4),
                "evidence": [{"text": e.text, "weight": round(e.weight, 3)}
                             for e in self.evidence]}


def _voice_settings(settings: Settings | VoiceSettings) -> VoiceSettings:
    return settings.voice if isinstance(settings, Settings) else settings


def _word_vectorizer(vocabulary: list[str] | None, max_features: int | None
                     ) -> TfidfVectorizer:
    return TfidfVectorizer(lowercase=True, token_pattern=_WORD_PATTERN, sublinear_tf=True,
                           min_df=1 if vocabulary else 2, max_features=max_features,
                           vocabulary=vocabulary, dtype=np.float64)


def _char_vectorizer(ngrams: tuple[int, int], vocabulary: list[str] | None,
                     max_features: int | None) -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="char", ngram_range=ngrams, lowercase=False,
                           sublinear_tf=True, min_df=1 if vocabulary else 2,
                           max_features=max_features, vocabulary=vocabulary, dtype=np.float64)


def _vocabulary(vectorizer: TfidfVectorizer) -> list[str]:
    return [str(t) for t in vectorizer.get_feature_names_out()]


def _balanced_weights(y: np.ndarray) -> np.ndarray:
    counts = np.bincount(y, minlength=2).astype(float)
    return np.where(y == 1, len(y) / (2 * counts[1]), len(y) / (2 * counts[0]))


@dataclass
class _Linear:
    """The fitted parts: vectorizers, style scaling and the linear weights."""

    words: TfidfVectorizer
    chars: TfidfVectorizer
    style_mean: np.ndarray
    style_std: np.ndarray
    style_weight: float
    coef: np.ndarray  # words, then chars, then style
    intercept: float
    masked: bool = True

    def blocks(self, texts: list[str]) -> tuple[sparse.csr_matrix, sparse.csr_matrix,
                                                 np.ndarray]:
        """Word and character TF-IDF rows (of the masked texts) and the scaled habits of each
        text (of the texts as written)."""
        z = (style.matrix(texts) - self.style_mean) / self.style_std
        seen = [text_view(t, self.masked) for t in texts]
        return (self.words.transform(seen), self.chars.transform(seen),
                np.clip(z, -_Z_CLIP, _Z_CLIP) * self.style_weight)

    def features(self, texts: list[str]) -> sparse.csr_matrix:
        """Each text's feature vector: words, then character n-grams, then habits."""
        w, c, s = self.blocks(texts)
        return sparse.hstack([w, c, sparse.csr_matrix(s)], format="csr")

    def decision(self, texts: list[str]) -> np.ndarray:
        """The log-odds that each text is the author's (before calibration)."""
        return np.asarray(self.features(texts) @ self.coef).ravel() + self.intercept


def _fit(texts: list[str], y: np.ndarray, v: VoiceSettings) -> _Linear:
    words = _word_vectorizer(None, v.max_word_features)
    chars = _char_vectorizer(tuple(v.char_ngrams), None, v.max_char_features)
    seen = [text_view(t, v.mask_topic_words) for t in texts]
    w = words.fit_transform(seen)
    c = chars.fit_transform(seen)
    raw = style.matrix(texts)
    mean = raw.mean(axis=0)
    # A floor on the spread: a habit nobody varies (no emoji anywhere) must not blow up.
    std = np.maximum(raw.std(axis=0), 0.05 * np.abs(mean) + 1e-3)
    s = np.clip((raw - mean) / std, -_Z_CLIP, _Z_CLIP) * v.style_weight
    x = sparse.hstack([w, c, sparse.csr_matrix(s)], format="csr")
    clf = LogisticRegression(C=v.regularization, class_weight="balanced", max_iter=5000,
                             solver="liblinear")
    clf.fit(x, y)
    return _Linear(words, chars, mean, std, v.style_weight, clf.coef_.ravel().copy(),
                   float(clf.intercept_[0]), v.mask_topic_words)


def _platt(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope and offset turning log-odds into calibrated probabilities (balanced classes)."""
    positives, negatives = int((y == 1).sum()), int((y == 0).sum())
    target = np.where(y == 1, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    # Soft targets as weights: each text once as the author's (weight t), once not (1 - t).
    x = np.concatenate([scores, scores]).reshape(-1, 1)
    labels = np.concatenate([np.ones(len(y)), np.zeros(len(y))])
    weights = np.concatenate([target, 1 - target]) * np.tile(_balanced_weights(y), 2)
    platt = LogisticRegression(C=1e4, solver="lbfgs", max_iter=1000)
    platt.fit(x, labels, sample_weight=weights)
    return float(platt.coef_[0, 0]), float(platt.intercept_[0])


def _readable(ngram: str) -> bool:
    """An n-gram worth showing: 3+ visible characters, not only masked letters."""
    visible = ngram.replace(" ", "")
    return len(visible) >= 3 and bool(visible.strip("*#"))


def _show(ngram: str) -> str:
    return "'" + ngram.replace("\n", "\u23ce") + "'"


def _value(value: float, unit: str = "") -> str:
    """A habit's value for people: whole percentages, one decimal for small rates."""
    if unit.startswith("%"):
        return f"{value:.0f}%"
    return f"{value:.0f}" if abs(value) >= 10 or value == 0 else f"{value:.1f}"


def _format(value: float, unit: str) -> str:
    if unit.startswith("%"):
        return f"{_value(value, unit)}{unit[1:]}"
    return f"{_value(value)} {unit}"


class VoiceModel:
    """A per-author authorship model: train, score, save, load."""

    def __init__(self, linear: _Linear, calibration: tuple[float, float], center: np.ndarray,
                 author_style: np.ndarray, others_style: np.ndarray,
                 word_author_df: np.ndarray, settings: VoiceSettings,
                 card: dict[str, Any] | None = None) -> None:
        self._linear = linear
        self._calibration = calibration
        # The typical text, halfway between the author's and others' mean feature vectors:
        # evidence is each feature's share of the log-odds relative to it.
        self._center = center
        self._author_style = author_style
        self._others_style = others_style
        self._word_author_df = word_author_df
        self.settings = settings
        self.card: dict[str, Any] = card or {}
        self._word_names = np.asarray(_vocabulary(linear.words), dtype=object)
        self._char_names = np.asarray(_vocabulary(linear.chars), dtype=object)

    # --- training -------------------------------------------------------------------------

    @classmethod
    def train(cls, author_texts: list[str], other_texts: list[str],
              settings: Settings | VoiceSettings) -> VoiceModel:
        """Fit the author's texts (positive) against other people's (negative)."""
        v = _voice_settings(settings)
        if len(author_texts) < 2 or len(other_texts) < 2:
            raise ValueError(f"need at least 2 texts on each side, got {len(author_texts)} of "
                             f"the author's and {len(other_texts)} of others'")
        texts = list(author_texts) + list(other_texts)
        y = np.array([1] * len(author_texts) + [0] * len(other_texts))
        folds = min(v.calibration_folds, len(author_texts), len(other_texts))
        scores = np.zeros(len(texts))
        if folds >= 2:
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=v.seed)
            for train_idx, test_idx in splitter.split(texts, y):
                fold = _fit([texts[i] for i in train_idx], y[train_idx], v)
                scores[test_idx] = fold.decision([texts[i] for i in test_idx])
        linear = _fit(texts, y, v)
        if folds < 2:
            scores = linear.decision(texts)
        raw = style.matrix(texts)
        x = linear.features(texts)
        center = 0.5 * (np.asarray(x[y == 1].mean(axis=0)).ravel()
                        + np.asarray(x[y == 0].mean(axis=0)).ravel())
        author_df = np.asarray((linear.blocks(author_texts)[0] > 0).sum(axis=0)).ravel()
        model = cls(linear, _platt(scores, y), center, raw[y == 1].mean(axis=0),
                    raw[y == 0].mean(axis=0), author_df.astype(np.int64), v)
        model.card = {"train": {"author_texts": len(author_texts),
                                "other_texts": len(other_texts),
                                "words": len(model._word_names),
                                "char_ngrams": len(model._char_names),
                                "style_features": len(style.KEYS)}}
        return model

    # --- scoring --------------------------------------------------------------------------

    def log_odds(self, texts: list[str]) -> np.ndarray:
        """The linear model's (uncalibrated) log-odds that each text is the author's."""
        return self._linear.decision(texts)

    def _weights(self, texts: list[str]) -> np.ndarray:
        """How much of a full text's evidence each text carries: its words over
        ``voice.min_piece_words`` (at most 1). The n-gram vectors are length-normalised, so
        without it a seven-word draft would be scored as confidently as a whole post."""
        words = np.array([len(_TOKEN.findall(t)) for t in texts], dtype=float)
        return np.minimum(1.0, words / max(1, self.settings.min_piece_words))

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """Calibrated probabilities that each text is the author's (a text shorter than
        ``voice.min_piece_words`` is moved toward even odds, in proportion)."""
        a, b = self._calibration
        weights = self._weights(texts)
        probs = 1.0 / (1.0 + np.exp(-(a * self.log_odds(texts) + b) * weights))
        return np.where(weights == 0, 0.0, probs)  # no words: nobody's writing (score_many)

    def score(self, text: str) -> VoiceScore:
        """How much ``text`` sounds like the author, with the reasons."""
        return self.score_many([text])[0]

    def score_many(self, texts: list[str]) -> list[VoiceScore]:
        """Scores of many texts at once (one vectorisation)."""
        if not texts:
            return []
        x = self._linear.features(texts)
        slope, offset = self._calibration
        logits = np.asarray(x @ self._linear.coef).ravel() + self._linear.intercept
        full = slope * logits + offset
        weights = self._weights(texts)
        probs = 1.0 / (1.0 + np.exp(-full * weights))
        raw = style.matrix(texts)
        out = []
        for i, p in enumerate(probs):
            if weights[i] == 0:
                # A text without a word (an empty draft, a lone emoji) is nobody's writing.
                out.append(VoiceScore(0.0, [Evidence("unlike you: no words to go by", 0.0)]))
                continue
            evidence = self._evidence(x.getrow(i), raw[i])
            if weights[i] < 1:
                words = len(_TOKEN.findall(texts[i]))
                weight = float(full[i] * (weights[i] - 1))
                short = Evidence(f"{'unlike' if weight < 0 else 'like'} you: too short to "
                                 f"tell ({words} words; a full text has "
                                 f"{self.settings.min_piece_words})", weight)
                evidence = sorted([short, *evidence[:self.settings.evidence_items - 1]],
                                  key=lambda e: -abs(e.weight))
            out.append(VoiceScore(float(p), evidence))
        return out

    def _evidence(self, x: sparse.csr_matrix, raw: np.ndarray) -> list[Evidence]:
        """The features that moved this text's score most, in words, largest first.

        A feature's share is slope x weight x (its value - the typical text's value), in
        calibrated log-odds, so the shares add up to how far the text's score is from a
        typical text's. Words are one group (with the words that moved it most: present, or
        absent though the author uses them), character n-grams another, habits one by one; at
        most ``evidence_items - 2`` reasons are habits, so both groups are shown too.
        """
        a = self._calibration[0]
        nw, nc = len(self._word_names), len(self._char_names)
        present = np.zeros(x.shape[1], dtype=bool)
        present[x.indices] = True
        share = a * self._linear.coef * (x.toarray().ravel() - self._center)
        groups: list[Evidence] = []
        words = share[:nw]
        total = float(words.sum())
        if abs(total) > 1e-9:
            examples = []
            for j in np.argsort(-words if total > 0 else words)[:3]:
                word = self._word_names[j]
                if present[j]:
                    examples.append(f"'{word}', a word you use" if total > 0 else
                                    f"'{word}', not a word you use"
                                    if self._word_author_df[j] == 0 else
                                    f"'{word}', rarer in your writing than in others'")
                elif total < 0:
                    examples.append(f"no '{word}', a word you use")
            groups.append(Evidence(f"{'like' if total > 0 else 'unlike'} you: word choice"
                                   + (f" ({'; '.join(examples)})" if examples else ""), total))
        chars = share[nw:nw + nc]
        total = float(chars.sum())
        if abs(total) > 1e-9:
            shown = [k for k in np.argsort(-chars if total > 0 else chars)
                     if present[nw + k] and _readable(self._char_names[k])][:3]
            example = ", ".join(_show(self._char_names[k]) for k in shown)
            groups.append(Evidence(f"{'like' if total > 0 else 'unlike'} you: spelling and "
                                   f"punctuation patterns{f' (e.g. {example})' if example else ''}",
                                   total))
        habits: list[Evidence] = []
        for k, feature in enumerate(style.FEATURES):
            value = share[nw + nc + k]
            if abs(value) < 1e-9:
                continue
            what = feature.more if raw[k] > self._linear.style_mean[k] else feature.less
            habits.append(Evidence(
                f"{'like' if value > 0 else 'unlike'} you: {what} "
                f"({_format(raw[k], feature.unit)} here; yours "
                f"{_value(self._author_style[k], feature.unit)}, other people's "
                f"{_value(self._others_style[k], feature.unit)})", float(value)))
        n = self.settings.evidence_items
        habits.sort(key=lambda e: -abs(e.weight))
        chosen = habits[:max(n - 2, 1)] + groups
        chosen.sort(key=lambda e: -abs(e.weight))
        return chosen[:n]

    # --- persistence ----------------------------------------------------------------------

    def save(self, folder: Path | str) -> Path:
        """Write the model to ``folder`` (JSON + npz; no pickle)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        lin = self._linear
        meta = {
            "format": FORMAT,
            "settings": self.settings.model_dump(mode="json"),
            "word_vocabulary": list(self._word_names),
            "char_vocabulary": list(self._char_names),
            "style_features": list(style.KEYS),
            "style_weight": lin.style_weight,
            "intercept": lin.intercept,
            "calibration": {"slope": self._calibration[0], "offset": self._calibration[1]},
            "card": self.card,
        }
        (folder / MODEL_FILE).write_text(json.dumps(meta, ensure_ascii=False))
        np.savez(folder / WEIGHTS_FILE, coef=lin.coef, center=self._center,
                 word_idf=lin.words.idf_,
                 char_idf=lin.chars.idf_, style_mean=lin.style_mean, style_std=lin.style_std,
                 author_style=self._author_style, others_style=self._others_style,
                 word_author_df=self._word_author_df)
        return folder

    @classmethod
    def load(cls, folder: Path | str) -> VoiceModel:
        """Open a saved model (no code is run from the files: JSON and plain arrays)."""
        folder = Path(folder)
        meta = json.loads((folder / MODEL_FILE).read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"voice model format {meta.get('format')} is not {FORMAT}")
        if list(meta["style_features"]) != list(style.KEYS):
            raise ValueError("the voice model was saved with other style features")
        v = VoiceSettings(**meta["settings"])
        with np.load(folder / WEIGHTS_FILE, allow_pickle=False) as arrays:
            a = {k: arrays[k] for k in arrays.files}
        words = _word_vectorizer(meta["word_vocabulary"], None)
        words.idf_ = a["word_idf"]
        chars = _char_vectorizer(tuple(v.char_ngrams), meta["char_vocabulary"], None)
        chars.idf_ = a["char_idf"]
        linear = _Linear(words, chars, a["style_mean"], a["style_std"],
                         float(meta["style_weight"]), a["coef"], float(meta["intercept"]),
                         v.mask_topic_words)
        cal = meta["calibration"]
        return cls(linear, (float(cal["slope"]), float(cal["offset"])), a["center"],
                   a["author_style"],
                   a["others_style"], a["word_author_df"], v, meta.get("card") or {})


# --- the held-out check ---------------------------------------------------------------------


def _bootstrap(pos: np.ndarray, neg: np.ndarray, n: int, seed: int
               ) -> dict[str, dict[str, float]]:
    """AUC and accuracy (at 0.5) with stratified percentile-bootstrap 95% intervals."""
    rng = np.random.default_rng(seed)

    def metrics(p: np.ndarray, q: np.ndarray) -> tuple[float, float]:
        y = np.r_[np.ones(len(p)), np.zeros(len(q))]
        scores = np.r_[p, q]
        return (float(roc_auc_score(y, scores)),
                float(np.mean((scores >= 0.5) == (y == 1))))

    auc, acc = metrics(pos, neg)
    draws = np.array([metrics(pos[rng.integers(0, len(pos), len(pos))],
                              neg[rng.integers(0, len(neg), len(neg))]) for _ in range(n)])

    def ci(value: float, column: np.ndarray) -> dict[str, float]:
        return {"mean": round(value, 4), "low": round(float(np.quantile(column, 0.025)), 4),
                "high": round(float(np.quantile(column, 0.975)), 4)}

    return {"auc": ci(auc, draws[:, 0]), "accuracy": ci(acc, draws[:, 1])}


def held_out_check(model: VoiceModel, author_texts: list[str], other_texts: list[str]
                   ) -> dict[str, Any]:
    """Authorship AUC and accuracy on texts the model never saw, with 95% CIs."""
    if not author_texts or not other_texts:
        return {"skipped": "no held-out texts on one side", "author_texts": len(author_texts),
                "other_texts": len(other_texts)}
    pos = model.probabilities(author_texts)
    neg = model.probabilities(other_texts)
    v = model.settings
    result: dict[str, Any] = _bootstrap(pos, neg, v.bootstrap_samples, v.seed)
    result.update({
        "author_texts": len(author_texts), "other_texts": len(other_texts),
        "author_score_mean": round(float(pos.mean()), 4),
        "other_score_mean": round(float(neg.mean()), 4)})
    return result


def describe(card: dict[str, Any]) -> str:
    """One line for logs and summaries: the held-out AUC with its CI."""
    check = card.get("held_out") or {}
    if "auc" not in check:
        return "voice model: no held-out check"
    auc = check["auc"]
    return (f"voice model: held-out AUC {auc['mean']:.3f} [{auc['low']:.3f}, {auc['high']:.3f}]"
            f" on {check['author_texts']} of the author's and {check['other_texts']} other "
            "texts")


__all__ = ["Evidence", "VoiceModel", "VoiceScore", "describe", "held_out_check"]
