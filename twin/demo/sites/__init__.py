"""The demo's fake platforms, one module per collector of :mod:`twin.collect`; each
builds its pages, feeds, API answers and export archive for :class:`twin.demo.site.DemoSite`."""
