"""What every layer needs from the process and the file system: atomic writes, safe folder names, which rank."""
