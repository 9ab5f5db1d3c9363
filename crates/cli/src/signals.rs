//! SIGINT and SIGTERM while a run trains: the first asks training to stop after the current
//! step (the run is then marked `interrupted` and can be resumed); a second one ends the
//! process at once, with the usual status 128 + signal number. Outside training the default
//! action stands (the process ends at once): nothing of a run is open then, and an
//! interrupted cache build is cleaned up by the next load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};
use signal_hook::SigId;
use signal_hook::consts::{SIGINT, SIGTERM};

/// One flag per signal, set by signal-hook's handler (an async-signal-safe atomic store).
static FLAGS: OnceLock<[(i32, Arc<AtomicBool>); 2]> = OnceLock::new();

fn flags() -> &'static [(i32, Arc<AtomicBool>); 2] {
    FLAGS.get_or_init(|| {
        [
            (SIGINT, Arc::new(AtomicBool::new(false))),
            (SIGTERM, Arc::new(AtomicBool::new(false))),
        ]
    })
}

/// The handlers of one training; dropping it restores the default actions.
pub struct Armed {
    ids: Vec<SigId>,
}

/// Installs the handlers for the duration of a training.
pub fn arm() -> Result<Armed> {
    // Any first signal sets `seen`; a second one finds it set and exits at once.
    let seen = Arc::new(AtomicBool::new(false));
    let mut ids = Vec::new();
    for (signal, flag) in flags() {
        let code = 128 + signal;
        // Registered before `seen` is set by the same signal, so the first one passes.
        ids.push(
            signal_hook::flag::register_conditional_shutdown(*signal, code, Arc::clone(&seen))
                .context("cannot install a signal handler")?,
        );
        ids.push(
            signal_hook::flag::register(*signal, Arc::clone(&seen))
                .context("cannot install a signal handler")?,
        );
        ids.push(
            signal_hook::flag::register(*signal, Arc::clone(flag))
                .context("cannot install a signal handler")?,
        );
    }
    Ok(Armed { ids })
}

impl Drop for Armed {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// The signal that asked training to stop, if one did.
pub fn received() -> Option<i32> {
    flags()
        .iter()
        .find(|(_, flag)| flag.load(Ordering::SeqCst))
        .map(|(signal, _)| *signal)
}

/// The exit status for a run stopped by `signal`.
pub fn exit_code(signal: i32) -> u8 {
    (128 + signal).clamp(0, 255) as u8
}

/// The signal's name, for messages.
pub fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// On the dashboard: burn-train's terminal UI puts the terminal in raw mode, where Ctrl-C is a
/// key press it ignores instead of a SIGINT. Turning the terminal's signal keys back on (ISIG)
/// makes Ctrl-C stop training as it does without the dashboard; the UI restores the terminal's
/// modes when it closes. Does nothing when stdin is not a terminal.
pub fn ctrl_c_on_dashboard() {
    #[cfg(unix)]
    {
        use rustix::termios::{LocalModes, OptionalActions, isatty, tcgetattr, tcsetattr};
        let stdin = std::io::stdin();
        if !isatty(&stdin) {
            return;
        }
        if let Ok(mut modes) = tcgetattr(&stdin) {
            modes.local_modes |= LocalModes::ISIG;
            // Best effort: without it, `q` then `s` still stops the run.
            let _ = tcsetattr(&stdin, OptionalActions::Now, &modes);
        }
    }
}
