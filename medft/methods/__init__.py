"""PEFT methods that need more than a peft config, one small module each (called by medft.builders)."""
