//! The PC board: port-I/O routing and devices (see DESIGN.md). Filled in by the board issue.
