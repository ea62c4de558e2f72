"""The Transformer of Attention Is All You Need (installed as minigrad.models)."""
