"""The delivery stage: one module per destination kind, signing, lanes, disabled destinations, digests and replay."""
