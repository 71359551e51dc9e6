//! Micro-benchmarks: one engine step, rendering one Fluent message, and checking a large flow
//! set. `cargo bench` prints the numbers; docs/benchmarks.md records them with the machine.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use teduh::directory::{Directory, Regions};
use teduh::flow::check::compile;
use teduh::flow::engine::BUILTIN_MESSAGES;
use teduh::flow::load::{Source, parse, read_dir};
use teduh::flow::{Engine, Event, State, Value, load_flow_set};
use teduh::i18n::I18n;

fn shipped() -> (Engine, Arc<I18n>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let i18n = I18n::load(&root.join("locales"), "id").expect("shipped locales");
    let flows = load_flow_set(&root.join("flows"), &i18n).expect("shipped flows");
    let directory = Directory::with_regions(Regions::embedded().expect("regions"));
    let i18n = Arc::new(i18n);
    let engine = Engine::new(Arc::new(flows), i18n.clone(), Arc::new(directory), "helpline").expect("entry");
    (engine, i18n)
}

fn engine_step(c: &mut Criterion) {
    let (engine, _) = shipped();
    // At the main menu, as most messages find a conversation.
    let at_menu = engine.step(&State::new("id"), &Event::Text("halo".to_string())).expect("first step").state;
    c.bench_function("engine step: menu choice", |b| {
        b.iter(|| engine.step(&at_menu, &Event::Text("1".to_string())).expect("step"))
    });
    c.bench_function("engine step: emergency keyword", |b| {
        b.iter(|| engine.step(&at_menu, &Event::Text("darurat".to_string())).expect("step"))
    });
}

fn fluent_render(c: &mut Criterion) {
    let (_, i18n) = shipped();
    let mut vars = BTreeMap::new();
    vars.insert("case".to_string(), Value::Text("K-3F9A1C".into()));
    c.bench_function("fluent: render a message with a variable", |b| {
        b.iter(|| i18n.render("id", "emergency-received", &vars))
    });
}

fn flows_check(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let i18n = I18n::load(&root.join("locales"), "id").expect("shipped locales");
    let (sources, problems) = read_dir(&root.join("flows"));
    assert!(problems.is_empty());
    // 50 copies of the shipped flows under other ids: about 300 flows.
    let mut large: Vec<Source> = Vec::new();
    for copy in 0..50 {
        for source in &sources {
            let text = std::fs::read_to_string(&source.path).expect("flow file");
            let id = &source.doc.id.value;
            let renamed = text.replacen(&format!("id: {id}"), &format!("id: {id}_{copy}"), 1);
            let doc = parse(&source.path, &renamed).expect("parses");
            large.push(Source { path: source.path.clone(), doc });
        }
    }
    c.bench_function(&format!("flows check: {} flows", large.len()), |b| {
        b.iter(|| compile(&large, &i18n, BUILTIN_MESSAGES))
    });
}

criterion_group!(benches, engine_step, fluent_render, flows_check);
criterion_main!(benches);
