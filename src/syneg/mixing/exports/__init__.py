"""The writers behind ``syneg.mixing.export``: one module per target format."""
