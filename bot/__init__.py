"""BorderWatch: a self-hosted Discord news-alert bot for the Iran–Azerbaijan border region."""

__version__ = "0.1.0"
