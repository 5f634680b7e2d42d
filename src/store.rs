//! What the views share: the reactive store of UI state and the command handle.
//!
//! The state is a Leptos reactive store (`reactive_stores`, `#[derive(Store)]` on
//! [`State`]): a view reads one field (`store.state().devices().with(…)`) and re-renders
//! only when that field is notified. Session updates are folded in with untracked writes as
//! they arrive (plain reducers, [`crate::state::apply_update`]) and the touched fields are
//! notified once per animation frame, so a flood of thousands of messages a second costs
//! one render per frame (the message list 4 times a second, once a second in a flood:
//! [`crate::state::messages::list_render_in`]; the counters the messages feed 4 times a
//! second in a flood: [`crate::state::messages::counts_render_in`]). The list a flood holds
//! back is shown once the messages stop: when the session's thread says so
//! ([`Update::Quiet`]), else after [`crate::state::messages::SETTLE_MS`]. While a
//! render waits no frames are requested (a frame that changes nothing still costs a
//! commit), except for the connection status, publish outcomes and held payloads a user
//! asked for, which never wait.

use leptos::prelude::*;
use reactive_stores::Store;

use crate::bridge::{Command, Update};
use crate::mqtt::PublishId;
use crate::state::messages::{
    counts_render_in, held_render_recheck_in, list_render_in, list_render_in_when_quiet,
    FLOOD_COUNTS_INTERVAL_MS,
};
use crate::state::{apply_update, Changes, State, StateStoreFields};
use crate::transport::client::SessionClient;
use crate::transport::clock;

/// The UI state and its per-frame notification. Copy: pass it anywhere.
#[derive(Clone, Copy)]
pub struct AppStore {
    state: Store<State>,
    pending: StoredValue<Changes, LocalStorage>,
    frame_scheduled: StoredValue<bool, LocalStorage>,
    /// A flush waits on a timer for the cadences below (no frames meanwhile).
    timer_scheduled: StoredValue<bool, LocalStorage>,
    /// When the message list was last notified, and the counters the messages feed
    /// (subscriptions, devices, mesh). Status and outcomes update every frame.
    list: Cadence,
    counts: Cadence,
    /// When the last message was absorbed (performance.now() ms): a quiet stream ends the
    /// list's flood hold.
    message_at: StoredValue<f64, LocalStorage>,
    /// The session's thread said the messages stopped ([`Update::Quiet`]), and none came
    /// since: the flood's holds are over.
    quiet: StoredValue<bool, LocalStorage>,
}

/// When a field was last notified (performance.now() ms) and the newest message then: what
/// its render rule (`list_render_in`, `counts_render_in`) is asked about.
#[derive(Clone, Copy)]
struct Cadence {
    notified_at: StoredValue<f64, LocalStorage>,
    notified_seq: StoredValue<u64, LocalStorage>,
}

impl Cadence {
    fn new() -> Cadence {
        Cadence {
            notified_at: StoredValue::new_local(f64::NEG_INFINITY),
            notified_seq: StoredValue::new_local(0),
        }
    }

    /// How long the render must wait by `rule` at `now` with the newest message `seq` (0 or
    /// less: it is due).
    fn wait_ms(&self, now: f64, seq: u64, rule: fn(f64, u64) -> f64) -> f64 {
        let new_messages = seq.saturating_sub(self.notified_seq.get_value());
        rule(now - self.notified_at.get_value(), new_messages)
    }

    fn mark_notified(&self, now: f64, seq: u64) {
        self.notified_at.set_value(now);
        self.notified_seq.set_value(seq);
    }
}

impl AppStore {
    pub fn new() -> AppStore {
        AppStore {
            state: Store::new(State::default()),
            pending: StoredValue::new_local(Changes::default()),
            frame_scheduled: StoredValue::new_local(false),
            timer_scheduled: StoredValue::new_local(false),
            list: Cadence::new(),
            counts: Cadence::new(),
            message_at: StoredValue::new_local(f64::NEG_INFINITY),
            quiet: StoredValue::new_local(false),
        }
    }

    /// The reactive state: read a field with `state().<field>().with(…)` to track it.
    pub fn state(&self) -> Store<State> {
        self.state
    }

    /// Reads the state without tracking anything (event handlers).
    pub fn peek<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        self.state.with_untracked(f)
    }

    /// Changes the state from a user action and notifies the touched fields at once.
    pub fn update(&self, f: impl FnOnce(&mut State) -> Changes) {
        let changes = self.state.try_update_untracked(f).unwrap_or_default();
        self.notify(changes);
    }

    /// Folds session updates in now and notifies on the next animation frame.
    pub fn absorb(&self, updates: Vec<Update>) {
        let now = clock::wall_ms();
        // Whether the messages stopped, as of the last `Quiet` or message in `updates`.
        let mut quiet = None;
        let changes = self
            .state
            .try_update_untracked(|state| {
                let mut changes = Changes::default();
                for update in updates {
                    if matches!(update, Update::Quiet) {
                        quiet = Some(true);
                        continue;
                    }
                    let change = apply_update(state, update, now);
                    if change.messages {
                        quiet = Some(false);
                    }
                    changes.merge(change);
                }
                changes
            })
            .unwrap_or_default();
        if changes.messages {
            self.message_at.set_value(clock::now_ms() as f64);
        }
        if let Some(quiet) = quiet {
            self.quiet.set_value(quiet);
        }
        self.pending.update_value(|p| p.merge(changes));
        let held_released = quiet == Some(true) && self.pending.with_value(Changes::any);
        // While a flush waits on its timer the rest waits with it, but not the connection
        // status, a publish outcome, held payloads a user asked for or what a flood held back
        // once it is over: those are shown on the next frame.
        if held_released
            || changes.connection
            || changes.publish
            || changes.fetched
            || (changes.any() && !self.timer_scheduled.get_value())
        {
            self.schedule_frame();
        }
    }

    fn schedule_frame(&self) {
        if !self.frame_scheduled.get_value() {
            self.frame_scheduled.set_value(true);
            let store = *self;
            request_animation_frame(move || store.flush());
        }
    }

    /// Looks at the held-back renders again in `ms`, and requests a frame then only if one
    /// is due; absorbed updates meanwhile wait for it.
    fn schedule_flush_in(&self, ms: f64) {
        if !self.timer_scheduled.get_value() {
            self.timer_scheduled.set_value(true);
            let store = *self;
            set_timeout(
                move || {
                    // A store dropped meanwhile (only tests drop one) has nothing to show.
                    if store.timer_scheduled.try_set_value(false).is_some() {
                        return;
                    }
                    // (A status or an outcome waiting with them has its frame already.)
                    let pending = store.pending.get_value();
                    match store.held_recheck_in(pending, clock::now_ms() as f64) {
                        Some(ms) => store.schedule_flush_in(ms),
                        None => store.schedule_frame(),
                    }
                },
                std::time::Duration::from_millis(ms.clamp(1.0, FLOOD_COUNTS_INTERVAL_MS) as u64),
            );
        }
    }

    /// The counters held back at `now`: `None` when they are due, else when to look again.
    fn counts_recheck_in(&self, now: f64, seq: u64) -> Option<f64> {
        if self.quiet.get_value() {
            return None;
        }
        let wait = self.counts.wait_ms(now, seq, counts_render_in);
        (wait > 0.0).then_some(wait)
    }

    /// The list held back at `now`: due at its turn, or once the messages have stopped
    /// ([`held_render_recheck_in`], [`list_render_in_when_quiet`]).
    fn list_recheck_in(&self, now: f64, seq: u64) -> Option<f64> {
        let rule = if self.quiet.get_value() {
            list_render_in_when_quiet
        } else {
            list_render_in
        };
        let wait = self.list.wait_ms(now, seq, rule);
        held_render_recheck_in(wait, now - self.message_at.get_value())
    }

    /// When to look again at the renders of `changes` that their cadence holds back at
    /// `now` (`None`: one of them is due, or none is held).
    fn held_recheck_in(&self, changes: Changes, now: f64) -> Option<f64> {
        let seq = self.state.messages().with_untracked(|m| m.last_seq());
        let counts = feeds_counters(&changes).then(|| self.counts_recheck_in(now, seq));
        let list = changes.messages.then(|| self.list_recheck_in(now, seq));
        match (counts, list) {
            (Some(None), _) | (_, Some(None)) | (None, None) => None,
            (Some(Some(a)), Some(Some(b))) => Some(a.min(b)),
            (Some(Some(a)), None) | (None, Some(Some(a))) => Some(a),
        }
    }

    fn flush(&self) {
        // A store dropped since the frame was requested (only tests drop one): nothing to do.
        if self.frame_scheduled.try_set_value(false).is_some() {
            return;
        }
        let mut changes = self
            .pending
            .try_update_value(std::mem::take)
            .unwrap_or_default();
        let now = clock::now_ms() as f64;
        let seq = self.state.messages().with_untracked(|m| m.last_seq());
        // When to look again at the renders held back below (none: nothing held back).
        let mut recheck_ms = f64::INFINITY;
        if feeds_counters(&changes) {
            match self.counts_recheck_in(now, seq) {
                None => self.counts.mark_notified(now, seq),
                Some(ms) => {
                    self.pending.update_value(|p| {
                        p.subscriptions |= changes.subscriptions;
                        p.devices |= changes.devices;
                        p.mesh |= changes.mesh;
                    });
                    (changes.subscriptions, changes.devices, changes.mesh) = (false, false, false);
                    recheck_ms = recheck_ms.min(ms);
                }
            }
        }
        if changes.messages {
            match self.list_recheck_in(now, seq) {
                None => self.list.mark_notified(now, seq),
                Some(ms) => {
                    changes.messages = false;
                    self.pending.update_value(|p| p.messages = true);
                    recheck_ms = recheck_ms.min(ms);
                }
            }
        }
        self.notify(changes);
        if recheck_ms.is_finite() {
            self.schedule_flush_in(recheck_ms);
        }
    }

    fn notify(&self, changes: Changes) {
        let state = self.state;
        if changes.connection {
            state.connection().notify();
        }
        if changes.subscriptions {
            state.subscriptions().notify();
        }
        if changes.messages {
            state.messages().notify();
            state.topics().notify();
        }
        if changes.devices {
            state.devices().notify();
        }
        if changes.mesh {
            state.mesh().notify();
        }
        if changes.fetched {
            state.fetched().notify();
        }
        if changes.publish {
            state.publish().notify();
            state.send().notify();
            state.requests().notify();
        }
    }
}

/// Whether `changes` touch the counters the messages feed (their flood cadence).
fn feeds_counters(changes: &Changes) -> bool {
    changes.subscriptions || changes.devices || changes.mesh
}

impl Default for AppStore {
    fn default() -> Self {
        AppStore::new()
    }
}

/// Sends commands to the session and allocates publish ids. Copy: pass it anywhere.
#[derive(Clone, Copy)]
pub struct Commands {
    client: StoredValue<SessionClient, LocalStorage>,
    next_publish_id: StoredValue<u64, LocalStorage>,
}

impl Commands {
    pub fn new(client: SessionClient) -> Commands {
        Commands {
            client: StoredValue::new_local(client),
            next_publish_id: StoredValue::new_local(1),
        }
    }

    pub fn send(&self, command: Command) {
        self.client.with_value(|client| client.send(command));
    }

    /// A fresh id for the next publish (outcomes come back with it).
    pub fn next_publish_id(&self) -> PublishId {
        let id = self.next_publish_id.get_value();
        self.next_publish_id.set_value(id + 1);
        PublishId(id)
    }

    /// Whether the session runs in a worker thread.
    pub fn in_worker_thread(&self) -> bool {
        self.client.with_value(SessionClient::in_worker_thread)
    }
}

/// The store from context (provided once at start-up).
pub fn use_store() -> AppStore {
    expect_context::<AppStore>()
}

/// The command handle from context.
pub fn use_commands() -> Commands {
    expect_context::<Commands>()
}
