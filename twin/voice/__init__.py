"""The voice score: a per-author authorship model that says how much a draft sounds like the
author, with the reasons (``twin.voice.model``), the reference corpus of other people's
writing the project ships (``twin.voice.corpus``) and the dataset stage's builder
(``twin.voice.build``)."""
