//! Property tests: any sequence of events leaves a conversation at a defined place.

mod common;

use proptest::prelude::*;
use teduh::flow::{Engine, Event, State};

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        Just(Event::Start),
        Just(Event::Repeat),
        (0usize..12).prop_map(Event::Choice),
        (0u64..6).prop_map(|seq| Event::Timeout { seq }),
        (-100.0f64..100.0, -200.0f64..200.0).prop_map(|(lat, lon)| Event::Location { lat, lon }),
        prop::sample::select(vec![
            "1",
            "2",
            "3",
            "4",
            "5",
            "6",
            "7",
            "8",
            "9",
            "0",
            "-1",
            "ya",
            "tidak",
            "yes",
            "no",
            "darurat",
            "tolong",
            "emergency",
            "english",
            "indonesia",
            "hapus",
            "keluar",
            "menu",
            "putar",
            "dalam",
            "Sari",
            "15",
            "30,5",
            "1e9",
            "",
            "   ",
            "Kafé",
            "kupang",
            "kota palu",
            "jakarta",
            "banjar",
            "kab. sigi",
            "lewati",
            "pilihan a",
        ])
        .prop_map(|s| Event::Text(s.to_string())),
        ".{0,40}".prop_map(Event::Text),
    ]
}

fn fixture() -> &'static Engine {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(common::fixture_engine)
}

fn shipped() -> &'static Engine {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(common::shipped_engine)
}

/// A waiting conversation sits at an existing question; every sub-flow frame exists.
fn assert_defined(engine: &Engine, state: &State) {
    if let Some(at) = &state.at {
        let node = engine.flows().node(at);
        assert!(node.is_some(), "state points at missing node {at}");
        assert!(node.is_some_and(|n| n.ask.is_some()), "state waits at {at}, which asks nothing");
    } else {
        assert!(state.stack.is_empty(), "an ended conversation has no sub-flow frames");
    }
    for frame in &state.stack {
        assert!(engine.flows().node(frame).is_some(), "stack frame {frame} is missing");
    }
    assert!(engine.i18n().has_lang(&state.lang));
    if let Some(seq) = state.timer {
        assert!(seq <= state.timer_seq);
    }
}

fn run(engine: &Engine, events: &[Event]) {
    let mut state = State::new("id");
    for event in events {
        // An error keeps the previous state, which must itself be defined.
        if let Ok(step) = engine.step(&state, event) {
            state = step.state;
        }
        assert_defined(engine, &state);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn fixture_flows_never_panic_or_leave_an_undefined_state(events in prop::collection::vec(event(), 0..40)) {
        run(fixture(), &events);
    }

    #[test]
    fn shipped_flows_never_panic_or_leave_an_undefined_state(events in prop::collection::vec(event(), 0..40)) {
        run(shipped(), &events);
    }
}
