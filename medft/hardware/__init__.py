"""Hardware: the memory planner (`planner`), which says before loading a byte whether a run fits."""
