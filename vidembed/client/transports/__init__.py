"""The client's transports, one family after httpx's ``_transports``: ``base`` (the protocols every
transport meets), ``local`` (the whole service in this process) and ``http`` (a vidembed server).

Nothing is imported here: ``VidEmbed`` imports the kind it is asked for, when it is asked for it,
so ``import vidembed`` and the HTTP client never load the engine side (PyAV, onnxruntime...).
"""
