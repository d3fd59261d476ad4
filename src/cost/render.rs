//! The estimate as a table like the users' own cost sheet.

use std::fmt::Write;

use super::{Bill, Estimate};

/// Money in the provider's currency, to the cent.
pub fn money(currency: &str, amount: f64) -> String {
    let symbol = match currency {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        _ => "",
    };
    if symbol.is_empty() {
        format!("{amount:.2} {currency}")
    } else {
        format!("{symbol}{amount:.2}")
    }
}

/// The estimate as Markdown tables.
pub fn markdown(e: &Estimate) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Monthly cost of `{}` on {} ({:?} mode)\n\nPrices: {} (retrieved {}), in {}; every \
         figure below comes from that file, its source page in the last column.\n",
        e.stack, e.provider_name, e.runtime, e.prices_file, e.prices_retrieved, e.currency
    );
    bill_table(&mut out, &e.currency, &e.bill);
    if let Some(alt) = &e.with_managed_database {
        let _ = writeln!(
            out,
            "\n## Alternative: a managed database instead of the stack's own\n"
        );
        bill_table(&mut out, &e.currency, alt);
    }
    out
}

fn bill_table(out: &mut String, currency: &str, b: &Bill) {
    let _ = writeln!(
        out,
        "| Item | Low | High | Basis | Source |\n|---|---:|---:|---|---|"
    );
    for l in &b.lines {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            l.item,
            money(currency, l.low),
            money(currency, l.high),
            l.basis.replace('|', "/"),
            l.source.replace('|', "/")
        );
    }
    let _ = writeln!(
        out,
        "| **Total** | **{}** | **{}** | {} – {} per month | |",
        money(currency, b.total_low),
        money(currency, b.total_high),
        money(currency, b.total_low),
        money(currency, b.total_high)
    );
}
