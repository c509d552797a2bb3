//! The booking context: not built yet (see its issue). The directory exists so the workspace layout is settled.
