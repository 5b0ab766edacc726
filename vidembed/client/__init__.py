"""The client: ``VidEmbed`` with the SDK's surfaces (``client``, ``embed_v2``, ``assets``), the SDK's
response types (``types``), and the transports it speaks through (``transports``: ``base``, and
``local`` or ``http``, imported when ``VidEmbed`` chooses one)."""

from vidembed.client.client import EmbedClient, TasksClient, VidEmbed

__all__ = ["VidEmbed", "EmbedClient", "TasksClient"]
