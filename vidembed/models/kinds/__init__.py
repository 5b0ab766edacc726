"""The kinds of stack, one module each (``conse``, ``image_text``, ``fake``), on the template of
``base.StackKind``. Kinds import ``base`` and the shared role builders (``vidembed.models.parts``),
never each other; only ``vidembed.models.registry`` names them all, in its ``KINDS`` table."""
