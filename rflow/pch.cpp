// Compiles the precompiled header once (rflow_pch); every other target reuses it.
