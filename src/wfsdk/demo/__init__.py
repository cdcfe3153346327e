"""The demo: an embedded database modelled on the blog CMS, and the tour through it."""
