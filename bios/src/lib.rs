//! Built-in firmware (see DESIGN.md). Filled in by the board issue.
