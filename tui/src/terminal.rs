//! The real terminal: raw mode, the alternate screen and the event loop.
//! Whatever happens (quit, error, panic), the terminal is given back as it was.

use std::io::{self, Stdout, Write};
use std::panic;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crossterm::event::{
    self, DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    Event, KeyboardEnhancementFlags, PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, supports_keyboard_enhancement, EnterAlternateScreen,
    LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use crate::app::{Action, App};
use crate::backend::{Received, Worker};
use crate::transcript;

/// How often the loop looks at the worker while an answer streams in, and when idle.
const BUSY_TICK: Duration = Duration::from_millis(25);
const IDLE_TICK: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Capture the mouse for wheel scrolling (selecting text then needs Shift).
    pub mouse: bool,
}

/// Runs the chat until the user quits.
pub fn run(mut app: App, worker: Worker, options: RunOptions) -> io::Result<()> {
    app.mouse = options.mouse;
    let mut session = Session::enter(options.mouse)?;
    let result = event_loop(&mut session.terminal, &mut app, &worker);
    if let Some(job) = app.in_flight() {
        worker.cancel(job);
    }
    drop(session);
    result
}

fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    app: &mut App,
    worker: &Worker,
) -> io::Result<()> {
    let mut dirty = true;
    loop {
        if dirty {
            terminal.draw(|frame| crate::ui::draw(frame, app))?;
            dirty = false;
        }
        if app.quit {
            return Ok(());
        }
        let tick = if app.in_flight().is_some() {
            BUSY_TICK
        } else {
            IDLE_TICK
        };
        if event::poll(tick)? {
            loop {
                let event = event::read()?;
                if !matches!(event, Event::FocusGained | Event::FocusLost) {
                    app.handle_event(&event);
                    dirty = true;
                }
                if !event::poll(Duration::ZERO)? {
                    break;
                }
            }
        }
        dirty |= drain_updates(app, worker);
        // Between frames, through the backend's own writer: an escape sent
        // while a frame is half written would tear it.
        dirty |= apply_actions(app, worker, terminal.backend_mut());
    }
}

/// Hands every waiting worker update to the app; true when there was one.
pub fn drain_updates(app: &mut App, worker: &Worker) -> bool {
    let mut any = false;
    loop {
        match worker.try_next() {
            Received::Update(job, update) => {
                app.handle_update(job, update);
                any = true;
            }
            Received::Nothing => return any,
            Received::WorkerGone => return app.worker_gone() || any,
        }
    }
}

/// Carries out what the app asked for; true when that changed the app.
/// `terminal` receives escapes meant for the terminal itself (the clipboard).
pub fn apply_actions(app: &mut App, worker: &Worker, terminal: &mut dyn Write) -> bool {
    let actions = app.take_actions();
    let any = !actions.is_empty();
    for action in actions {
        match action {
            Action::Submit(job) => {
                if !worker.submit(job) {
                    app.worker_gone();
                }
            }
            Action::Cancel(job) => worker.cancel(job),
            Action::Save {
                path,
                markdown,
                overwrite,
            } => {
                let result = transcript::save(&path, &markdown, overwrite);
                app.saved(&path, result);
            }
            Action::Copy { markdown } => {
                let sequence = crate::clipboard::osc52(&markdown);
                let written = terminal
                    .write_all(sequence.as_bytes())
                    .and_then(|_| terminal.flush());
                if let Err(e) = written {
                    app.copy_failed(format!("could not copy: {e}"));
                }
            }
        }
    }
    any
}

/// Raw mode, alternate screen, paste/mouse/keyboard modes, and a panic hook
/// that undoes them; dropping it undoes them too.
struct Session {
    terminal: Terminal<CrosstermBackend<Stdout>>,
    previous_hook: Arc<dyn Fn(&panic::PanicHookInfo<'_>) + Sync + Send>,
}

type Hook = Box<dyn Fn(&panic::PanicHookInfo<'_>) + Sync + Send + 'static>;

impl Session {
    fn enter(mouse: bool) -> io::Result<Session> {
        let previous_hook: Arc<dyn Fn(&panic::PanicHookInfo<'_>) + Sync + Send> =
            Arc::from(panic::take_hook());
        let chained = Arc::clone(&previous_hook);
        let ui_thread = thread::current().id();
        let hook: Hook = Box::new(move |info| {
            // The worker catches its own panics and reports them on screen;
            // printing them here would scribble over the UI.
            if thread::current().id() != ui_thread {
                return;
            }
            restore();
            chained(info);
        });
        panic::set_hook(hook);

        enable_raw_mode()?;
        let mut stdout = io::stdout();
        let entered = execute!(stdout, EnterAlternateScreen, EnableBracketedPaste)
            .and_then(|_| {
                if mouse {
                    execute!(stdout, EnableMouseCapture)
                } else {
                    Ok(())
                }
            })
            .and_then(|_| {
                // Shift+Enter is only told apart from Enter by terminals that
                // speak the kitty keyboard protocol; Alt+Enter works everywhere.
                if supports_keyboard_enhancement().unwrap_or(false) {
                    execute!(
                        stdout,
                        PushKeyboardEnhancementFlags(
                            KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES
                        )
                    )
                } else {
                    Ok(())
                }
            })
            .and_then(|_| Terminal::new(CrosstermBackend::new(io::stdout())));
        match entered {
            Ok(terminal) => Ok(Session {
                terminal,
                previous_hook,
            }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        restore();
        let previous = Arc::clone(&self.previous_hook);
        panic::set_hook(Box::new(move |info| previous(info)));
    }
}

/// Gives the terminal back; safe to call more than once.
fn restore() {
    let mut stdout = io::stdout();
    let _ = execute!(
        stdout,
        PopKeyboardEnhancementFlags,
        DisableMouseCapture,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = disable_raw_mode();
}
