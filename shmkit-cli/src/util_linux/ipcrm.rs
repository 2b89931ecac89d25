//! `ipcrm`, as util-linux 2.38.1 behaves (see the project's `shared/docs/util-linux.md`).

use super::common::{Flow, Tool};

/// Runs `ipcrm` with `args` (`args[0]` is the name it was invoked by).
pub(crate) fn main(tool: &mut Tool, args: Vec<String>) -> Flow {
    let _ = (tool, args);
    Ok(())
}
