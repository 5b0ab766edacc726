"""TwelveLabs' index tasks (``client.tasks``, ``/tasks``): a video into a search index."""
