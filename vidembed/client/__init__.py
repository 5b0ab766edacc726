from vidembed.client.client import EmbedClient, TasksClient, VidEmbed

__all__ = ["VidEmbed", "EmbedClient", "TasksClient"]
