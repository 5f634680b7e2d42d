//! Labelled form fields bound to signals, shared by every form.
//!
//! Why functions and not `view!` inline: each inline field has its own closure types, so the UI
//! runtime's rendering code is compiled once per field. Every field built here has one type
//! (one per kind of field), so that code is compiled once for all of them, which keeps the
//! download small. The markup is what the forms wrote inline:
//! `<label class=…><span>label</span><input data-testid=… /></label>`.

use leptos::prelude::*;

/// The attributes of a text or number input; absent ones are left out of the markup. Start
/// from [`InputAttrs::TEXT`], [`InputAttrs::CODE`], [`InputAttrs::NUMBER`] or
/// [`InputAttrs::SEARCH`].
#[derive(Clone, Copy)]
pub struct InputAttrs {
    /// `type`.
    pub kind: &'static str,
    pub placeholder: Option<&'static str>,
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub step: Option<&'static str>,
    pub maxlength: Option<u32>,
    pub autocomplete: Option<&'static str>,
    pub title: Option<&'static str>,
    /// Adds `spellcheck="false"` (topics, ids, URLs).
    pub no_spellcheck: bool,
    /// Sets `aria-invalid` from this signal (the form shows why next to it).
    pub invalid: Option<Signal<bool>>,
}

impl InputAttrs {
    pub const TEXT: Self = Self {
        kind: "text",
        placeholder: None,
        min: None,
        max: None,
        step: None,
        maxlength: None,
        autocomplete: None,
        title: None,
        no_spellcheck: false,
        invalid: None,
    };
    /// A text input for names that are not words.
    pub const CODE: Self = Self {
        no_spellcheck: true,
        ..Self::TEXT
    };
    pub const NUMBER: Self = Self {
        kind: "number",
        ..Self::TEXT
    };
    /// A search box: text, no spell check.
    pub const SEARCH: Self = Self {
        kind: "search",
        ..Self::CODE
    };

    pub const fn placeholder(self, text: &'static str) -> Self {
        Self {
            placeholder: Some(text),
            ..self
        }
    }

    pub const fn range(self, min: u32, max: Option<u32>) -> Self {
        Self {
            min: Some(min),
            max,
            ..self
        }
    }
}

/// `<label class=class><span>label</span><input …></label>` bound to `value`.
pub fn text_field(
    class: &'static str,
    label: &'static str,
    testid: &str,
    value: RwSignal<String>,
    attrs: InputAttrs,
) -> impl IntoView {
    let testid = test_id(testid);
    view! {
        <label class=class>
            <span>{label}</span>
            <input data-testid=testid type=attrs.kind
                spellcheck=attrs.no_spellcheck.then_some("false")
                placeholder=attrs.placeholder min=attrs.min max=attrs.max step=attrs.step
                maxlength=attrs.maxlength autocomplete=attrs.autocomplete title=attrs.title
                aria-invalid=move || attrs.invalid.map(|invalid| invalid.get().to_string())
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev)) />
        </label>
    }
}

/// `<label class=class><span>label</span><textarea …></textarea></label>` bound to `value`.
pub fn text_area(
    class: &'static str,
    label: &'static str,
    testid: &str,
    value: RwSignal<String>,
    rows: u32,
    placeholder: Option<&'static str>,
) -> impl IntoView {
    let testid = test_id(testid);
    view! {
        <label class=class>
            <span>{label}</span>
            <textarea data-testid=testid rows=rows spellcheck="false" placeholder=placeholder
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))></textarea>
        </label>
    }
}

/// `<label class=class><input type="checkbox" …><span>label</span></label>` bound to `checked`.
pub fn check_field(
    class: &'static str,
    label: &'static str,
    testid: &str,
    checked: RwSignal<bool>,
) -> impl IntoView {
    let testid = test_id(testid);
    view! {
        <label class=class>
            <input data-testid=testid type="checkbox"
                prop:checked=move || checked.get()
                on:change=move |ev| checked.set(event_target_checked(&ev)) />
            <span>{label}</span>
        </label>
    }
}

/// `data-testid`, left out when empty.
fn test_id(testid: &str) -> Option<String> {
    (!testid.is_empty()).then(|| testid.to_owned())
}
