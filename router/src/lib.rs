//! The federation router: not built yet (see the router issues).
