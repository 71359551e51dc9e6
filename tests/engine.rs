//! Engine behaviour for every node, input, action and trigger kind, on a fixture flow set.

mod common;

use common::{fixture_engine, run_lines, started, texts};
use teduh::flow::model::{InputKind, Priority};
use teduh::flow::{Effect, EngineError, Event, NodeRef, State, Value};

fn at(state: &State) -> String {
    state.at.as_ref().map(ToString::to_string).unwrap_or_default()
}

#[test]
fn start_says_message_runs_actions_and_waits_at_the_question() {
    let engine = fixture_engine();
    let step = engine.step(&State::new("id"), &Event::Start).unwrap();
    assert_eq!(at(&step.state), "main:menu");
    assert_eq!(step.state.vars.get("greeted"), Some(&Value::Bool(true)));
    let sends = texts(&step.effects);
    assert_eq!(sends.len(), 2);
    assert_eq!(sends[0], "Halo.");
    assert!(sends[1].starts_with("Pilih:\n  1. Teks\n  2. Angka"), "{}", sends[1]);
    match &step.effects[1] {
        Effect::Send(r) => {
            assert_eq!(r.choices.len(), 8);
            assert_eq!(r.expect, Some(InputKind::Choice));
        }
        other => panic!("expected a send, got {other:?}"),
    }
}

#[test]
fn first_message_of_a_new_conversation_starts_the_entry_flow_instead_of_answering() {
    let engine = fixture_engine();
    let (state, effects) = run_lines(&engine, &State::new("id"), &["2"]);
    assert_eq!(at(&state), "main:menu");
    assert_eq!(texts(&effects)[0], "Halo.");
}

#[test]
fn choice_by_number_label_other_language_accent_and_button() {
    let engine = fixture_engine();
    let s = started(&engine);
    for (input, expected) in [
        ("2", "main:ask_number"),
        (" 2. ", "main:ask_number"),
        ("angka", "main:ask_number"),
        ("ANGKA!", "main:ask_number"),
        ("Number", "main:ask_number"),
        ("ya atau TIDAK", "main:ask_yesno"),
    ] {
        let (state, _) = run_lines(&engine, &s, &[input]);
        assert_eq!(at(&state), expected, "input {input:?}");
        assert_eq!(state.retries, 0);
    }
    // "Kafé" typed without its accent reaches the node's own route.
    let (state, effects) = run_lines(&engine, &s, &["kafe"]);
    assert_eq!(state.at, None);
    assert_eq!(texts(&effects), vec!["Kafe."]);
    assert_eq!(state.vars.get("pick"), Some(&Value::Text("cafe".into())));
    let step = engine.step(&s, &Event::Choice(4)).unwrap();
    assert_eq!(at(&step.state), "sub:q");
}

#[test]
fn invalid_choice_reasks_with_the_count_and_keeps_the_node() {
    let engine = fixture_engine();
    let s = started(&engine);
    for bad in ["9", "0", "pizza"] {
        let (state, effects) = run_lines(&engine, &s, &[bad]);
        assert_eq!(at(&state), "main:menu");
        assert_eq!(state.retries, 1);
        let sends = texts(&effects);
        assert_eq!(sends[0], "Maaf, pilih salah satu nomor dari 1 sampai 8.");
        assert!(sends[1].starts_with("Pilih:"));
    }
    let step = engine.step(&s, &Event::Choice(8)).unwrap();
    assert_eq!(step.state.retries, 1);
    let step = engine.step(&s, &Event::Location { lat: 1.0, lon: 2.0 }).unwrap();
    assert_eq!(at(&step.state), "main:menu");
}

#[test]
fn text_bounds_and_pattern_are_enforced_and_argument_rendered() {
    let engine = fixture_engine();
    let (s, _) = run_lines(&engine, &started(&engine), &["1"]);
    assert_eq!(at(&s), "main:ask_text");
    let (state, effects) = run_lines(&engine, &s, &["a"]);
    assert_eq!(texts(&effects)[0], "Jawaban terlalu pendek. Tulis paling sedikit 2 huruf.");
    assert_eq!(at(&state), "main:ask_text");
    let (_, effects) = run_lines(&engine, &s, &["abcdefghijk"]);
    assert_eq!(texts(&effects)[0], "Jawaban terlalu panjang. Tulis paling banyak 10 huruf.");
    let (_, effects) = run_lines(&engine, &s, &["R2D2"]);
    assert_eq!(texts(&effects)[0], "Maaf, jawaban itu tidak sesuai format yang diminta.");
    let (state, effects) = run_lines(&engine, &s, &["  Sari  "]);
    assert_eq!(texts(&effects), vec!["Halo Sari."]);
    assert_eq!(state.vars.get("name"), Some(&Value::Text("Sari".into())));
    assert_eq!(effects.last(), Some(&Effect::Ended));
}

#[test]
fn retries_run_out_into_the_fallback() {
    let engine = fixture_engine();
    let (s, _) = run_lines(&engine, &started(&engine), &["1"]);
    // retries: 1 -> the first invalid answer is asked again, the second goes to the fallback.
    let (s1, _) = run_lines(&engine, &s, &["1"]);
    assert_eq!(at(&s1), "main:ask_text");
    let (s2, effects) = run_lines(&engine, &s1, &["2"]);
    assert_eq!(at(&s2), "main:menu");
    assert_eq!(s2.retries, 0);
    assert!(texts(&effects)[0].starts_with("Pilih:"));
}

#[test]
fn numbers_parse_with_bounds_and_branch_on_value() {
    let engine = fixture_engine();
    let (s, _) = run_lines(&engine, &started(&engine), &["2"]);
    let (_, effects) = run_lines(&engine, &s, &["lima"]);
    // The flow's own invalid-answer message gets the same arguments as the built-in one.
    assert_eq!(texts(&effects)[0], "Tulis usia 10 sampai 120 tahun.");
    for bad in ["5", "121", "1e3", "NaN", "inf", "-", "1,2,3", "1.000"] {
        let (state, _) = run_lines(&engine, &s, &[bad]);
        assert_eq!(at(&state), "main:ask_number", "input {bad:?}");
    }
    let (state, effects) = run_lines(&engine, &s, &["15"]);
    assert_eq!(texts(&effects), vec!["Anak."]);
    assert_eq!(state.vars.get("age"), Some(&Value::Number(15.0)));
    let (state, effects) = run_lines(&engine, &s, &["30,5"]);
    assert_eq!(texts(&effects), vec!["Dewasa."]);
    assert_eq!(state.vars.get("age"), Some(&Value::Number(30.5)));
}

#[test]
fn yes_no_in_both_languages() {
    let engine = fixture_engine();
    let (s, effects) = run_lines(&engine, &started(&engine), &["3"]);
    assert_eq!(texts(&effects), vec!["Apakah Anda aman?\n  1. Ya\n  2. Tidak"]);
    for yes in ["ya", "Iya", "YES", "y", "1", "ok"] {
        let (state, _) = run_lines(&engine, &s, &[yes]);
        assert_eq!(state.vars.get("safe"), Some(&Value::Bool(true)), "{yes}");
    }
    for no in ["tidak", "nggak", "Gak", "no", "2", "bukan"] {
        let (state, _) = run_lines(&engine, &s, &[no]);
        assert_eq!(state.vars.get("safe"), Some(&Value::Bool(false)), "{no}");
    }
    let (state, effects) = run_lines(&engine, &s, &["mungkin"]);
    assert_eq!(at(&state), "main:ask_yesno");
    assert_eq!(texts(&effects)[0], "Maaf, jawab \"ya\" atau \"tidak\".");
    assert_eq!(engine.step(&s, &Event::Choice(1)).unwrap().state.vars.get("safe"), Some(&Value::Bool(false)));
}

#[test]
fn location_accepts_only_a_shared_pin() {
    let engine = fixture_engine();
    let (s, _) = run_lines(&engine, &started(&engine), &["4"]);
    let (state, effects) = run_lines(&engine, &s, &["Jalan Merdeka 5"]);
    assert_eq!(at(&state), "main:ask_location");
    assert_eq!(texts(&effects)[0], "Tekan tombol lokasi.");
    let bad = engine.step(&s, &Event::Location { lat: 200.0, lon: 0.0 }).unwrap();
    assert_eq!(at(&bad.state), "main:ask_location");
    let step = engine.step(&s, &Event::Location { lat: -6.2, lon: 106.8 }).unwrap();
    assert_eq!(texts(&step.effects), vec!["Lokasi diterima."]);
    assert_eq!(step.state.vars.get("place"), Some(&Value::Location { lat: -6.2, lon: 106.8 }));
}

#[test]
fn sub_flow_runs_and_returns_to_the_caller() {
    let engine = fixture_engine();
    let (s, effects) = run_lines(&engine, &started(&engine), &["5"]);
    assert_eq!(at(&s), "sub:q");
    assert_eq!(s.stack, vec![NodeRef::new("main", "call_sub")]);
    assert!(texts(&effects)[0].starts_with("Pilih A atau B."));
    let (state, effects) = run_lines(&engine, &s, &["2"]);
    assert_eq!(texts(&effects), vec!["Sub selesai.", "Kembali dengan b."]);
    assert!(state.stack.is_empty());
    assert_eq!(state.at, None);
}

#[test]
fn trigger_interrupts_any_node_even_inside_a_sub_flow() {
    let engine = fixture_engine();
    let (s, _) = run_lines(&engine, &started(&engine), &["5"]);
    let (state, effects) = run_lines(&engine, &s, &["TOLONG!"]);
    assert_eq!(texts(&effects), vec!["Darurat."]);
    assert!(state.stack.is_empty());
    // English keywords work in an Indonesian conversation, and in a new one.
    let (_, effects) = run_lines(&engine, &State::new("id"), &["emergency"]);
    assert_eq!(texts(&effects), vec!["Darurat."]);
    // A keyword inside a longer sentence is an answer, not a trigger.
    let (s, _) = run_lines(&engine, &started(&engine), &["1"]);
    let (state, _) = run_lines(&engine, &s, &["tolong aku"]);
    assert_eq!(state.vars.get("name"), Some(&Value::Text("tolong aku".into())));
}

#[test]
fn language_switch_keyword_repeats_the_question_in_the_new_language() {
    let engine = fixture_engine();
    let (s, effects) = run_lines(&engine, &started(&engine), &["english"]);
    assert_eq!(s.lang, "en");
    assert_eq!(at(&s), "main:menu");
    assert!(texts(&effects)[0].starts_with("Choose:\n  1. Text\n  2. Number"));
    let (s, effects) = run_lines(&engine, &s, &["3"]);
    assert_eq!(texts(&effects), vec!["Are you safe?\n  1. Yes\n  2. No"]);
    let (s, _) = run_lines(&engine, &s, &["indonesia"]);
    assert_eq!(s.lang, "id");
    // A message missing in English falls back to Indonesian.
    let (s, _) = run_lines(&engine, &started(&engine), &["english", "4"]);
    let (_, effects) = run_lines(&engine, &s, &["x"]);
    assert_eq!(texts(&effects)[0], "Tekan tombol lokasi.");
}

#[test]
fn set_lang_action_switches_language() {
    let engine = fixture_engine();
    let (s, _) = run_lines(&engine, &started(&engine), &["8"]);
    assert_eq!(s.lang, "en");
}

#[test]
fn timeout_is_an_effect_then_an_event_and_stale_ones_are_ignored() {
    let engine = fixture_engine();
    let (s, effects) = run_lines(&engine, &started(&engine), &["6"]);
    assert_eq!(at(&s), "main:timed");
    let seq = s.timer.expect("timer armed");
    assert!(effects.contains(&Effect::SetTimer { seq, after_secs: 300 }));
    let fired = engine.step(&s, &Event::Timeout { seq }).unwrap();
    assert_eq!(texts(&fired.effects), vec!["Waktu habis."]);
    assert_eq!(fired.state.timer, None);
    let stale = engine.step(&s, &Event::Timeout { seq: seq + 1 }).unwrap();
    assert!(stale.effects.is_empty());
    assert_eq!(stale.state, s);
    // Answering cancels the timer; its later timeout does nothing.
    let (answered, effects) = run_lines(&engine, &s, &["halo"]);
    assert!(effects.contains(&Effect::CancelTimer));
    let late = engine.step(&answered, &Event::Timeout { seq }).unwrap();
    assert!(late.effects.is_empty());
    // A trigger leaving the question also cancels it.
    let (_, effects) = run_lines(&engine, &s, &["darurat"]);
    assert_eq!(effects[0], Effect::CancelTimer);
}

#[test]
fn case_actions_become_effects_in_order_with_substitution() {
    let engine = fixture_engine();
    let (_, effects) = run_lines(&engine, &started(&engine), &["7"]);
    let kinds: Vec<&Effect> = effects.iter().filter(|e| !matches!(e, Effect::Send(_))).collect();
    assert_eq!(
        kinds,
        vec![
            &Effect::OpenCase {
                priority: Priority::Urgent,
                category: Some("case-x".into()),
                region: None,
                provider: None,
                fields: Default::default()
            },
            &Effect::Escalate { policy: "urgent".into() },
            &Effect::Handoff { service: "konsultasi".into() },
            &Effect::Ended,
        ]
    );
}

#[test]
fn forget_clears_variables_and_emits_forget() {
    let engine = fixture_engine();
    let (s, _) = run_lines(&engine, &started(&engine), &["1"]);
    assert!(!s.vars.is_empty());
    let (state, effects) = run_lines(&engine, &s, &["hapus"]);
    assert!(effects.contains(&Effect::Forget));
    assert!(state.vars.is_empty());
    assert_eq!(at(&state), "main:menu");
}

#[test]
fn flow_loop_without_input_is_an_error_not_a_hang() {
    let engine = fixture_engine();
    let s = started(&engine);
    match engine.step(&s, &Event::Text("putar".into())) {
        Err(EngineError::Loop { hops, .. }) => assert_eq!(hops, teduh::flow::engine::MAX_HOPS),
        other => panic!("expected a loop error, got {other:?}"),
    }
    match engine.step(&s, &Event::Text("dalam".into())) {
        Err(EngineError::TooDeep(at)) => assert_eq!(at.flow, "rec"),
        other => panic!("expected a depth error, got {other:?}"),
    }
}

#[test]
fn ended_conversation_restarts_and_repeat_resends_the_question() {
    let engine = fixture_engine();
    let (ended, _) = run_lines(&engine, &started(&engine), &["3", "ya"]);
    assert_eq!(ended.at, None);
    let (state, effects) = run_lines(&engine, &ended, &["apa saja"]);
    assert_eq!(at(&state), "main:menu");
    assert_eq!(texts(&effects)[0], "Halo.");
    assert!(!state.vars.contains_key("safe"), "a new conversation starts without old answers");
    let repeat = engine.step(&state, &Event::Repeat).unwrap();
    assert_eq!(repeat.state, state);
    assert_eq!(texts(&repeat.effects).len(), 1);
    assert!(texts(&repeat.effects)[0].starts_with("Pilih:"));
}

#[test]
fn state_at_a_node_that_no_longer_exists_restarts_cleanly() {
    let engine = fixture_engine();
    let mut s = started(&engine);
    s.at = Some(NodeRef::new("main", "removed_in_new_version"));
    s.stack.push(NodeRef::new("gone", "x"));
    let (state, effects) = run_lines(&engine, &s, &["1"]);
    assert_eq!(at(&state), "main:menu");
    assert!(state.stack.is_empty());
    assert_eq!(texts(&effects)[0], "Halo.");
}

#[test]
fn state_round_trips_through_json() {
    let engine = fixture_engine();
    let (s, _) = run_lines(&engine, &started(&engine), &["5"]);
    let json = serde_json::to_string(&s).unwrap();
    let back: State = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
}

#[test]
fn a_trigger_after_the_end_starts_a_fresh_conversation() {
    let engine = fixture_engine();
    let (ended, _) = run_lines(&engine, &started(&engine), &["3", "ya"]);
    assert_eq!(ended.vars.get("safe"), Some(&Value::Bool(true)));
    let (state, effects) = run_lines(&engine, &ended, &["darurat"]);
    assert_eq!(texts(&effects), vec!["Darurat."]);
    assert!(state.vars.is_empty(), "answers of an ended conversation must not carry over");
}

#[test]
fn a_goto_into_another_flow_leaves_the_sub_flow_for_good() {
    let engine = fixture_engine();
    let (s, _) = run_lines(&engine, &started(&engine), &["5"]);
    assert_eq!(s.stack.len(), 1);
    let (state, effects) = run_lines(&engine, &s, &["3"]);
    assert_eq!(texts(&effects), vec!["Darurat."]);
    assert!(state.stack.is_empty());
    assert_eq!(state.at, None, "main:sos ends the conversation instead of returning to the caller");
    assert_eq!(effects.last(), Some(&Effect::Ended));
}
