//! What the experiment tells its caller while it works: warnings and notes as values (the
//! binary prints them, a server logs them), never printed here.

/// One message for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Something was dropped, guessed or ignored: the result may not be what the user meant.
    Warning(String),
    /// Worth knowing, nothing wrong (e.g. a column the run does not read).
    Note(String),
    /// Where things are, what was prepared (the run directory, the data summary).
    Info(String),
}

/// The caller's handler for [`Event`]s.
pub trait Events {
    fn emit(&mut self, event: Event);

    fn warn(&mut self, message: String) {
        self.emit(Event::Warning(message));
    }

    fn note(&mut self, message: String) {
        self.emit(Event::Note(message));
    }

    fn info(&mut self, message: String) {
        self.emit(Event::Info(message));
    }
}

impl<F: FnMut(Event)> Events for F {
    fn emit(&mut self, event: Event) {
        self(event)
    }
}

/// Collects events (tests, callers that print them at the end).
#[derive(Debug, Default, Clone)]
pub struct Collected(pub Vec<Event>);

impl Events for Collected {
    fn emit(&mut self, event: Event) {
        self.0.push(event);
    }
}
