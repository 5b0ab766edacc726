"""Model stacks and their encoders (onnxruntime / CTranslate2; no torch at run time)."""
