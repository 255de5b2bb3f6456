//! Plans: which features an organization has. The application checks *features*, never plans
//! (the entitlement model of Stripe Entitlements and GitLab's `PLANS_BY_FEATURE`): the matrix
//! is [`crate::plans`]; here is the one check, [`entitled`], that the management API, the
//! console and the CLI all go through, and the operator's changes.
//!
//! Only *new* things are gated — creating an integration, issuing a token, registering a
//! webhook endpoint. A downgrade keeps the data, and existing tokens keep working until they
//! expire, so that production integrations do not break silently (Unkey gates its write path
//! the same way).

use chrono::NaiveDateTime;
use serde::Serialize;

use super::{AdminError, or_not_found};
use crate::store::audit::{self, Actor};
use crate::store::orgs::{Organization, PlanOverride};
use crate::store::{DbConn, transaction};

pub(crate) use crate::plans::{Feature, Plan, UnknownPlan, cheapest_with};

/// Whether `org` has `feature` at `now`: an override in force decides; otherwise its plan.
fn has(plan: Plan, overrides: &[PlanOverride], feature: Feature) -> bool {
    match overrides.iter().find(|o| o.feature == feature.as_str()) {
        Some(o) => o.enabled,
        None => plan.features().contains(&feature),
    }
}

/// An organization's plan as stored.
pub(crate) fn plan_of(org: &Organization) -> Result<Plan, AdminError> {
    org.plan
        .parse()
        .map_err(|e: UnknownPlan| AdminError::Internal(e.to_string()))
}

/// Refuses with [`AdminError::PlanUpgradeRequired`] unless `org` has `feature` now.
pub(crate) fn entitled(
    conn: &mut DbConn,
    org: &Organization,
    feature: Feature,
) -> Result<(), AdminError> {
    let plan = plan_of(org)?;
    let overrides = Organization::overrides(conn, org.id, crate::clock::now())?;
    if has(plan, &overrides, feature) {
        Ok(())
    } else {
        Err(AdminError::PlanUpgradeRequired {
            feature,
            plan,
            required: cheapest_with(feature),
        })
    }
}

/// An organization's plan and what it gives, for the console, the CLI and the API.
#[derive(Debug, Serialize)]
pub(crate) struct Entitlements {
    pub org: String,
    pub plan: Plan,
    /// Every feature and whether the organization has it now.
    pub features: Vec<FeatureState>,
    pub overrides: Vec<PlanOverride>,
}

#[derive(Debug, Serialize)]
pub(crate) struct FeatureState {
    pub feature: Feature,
    pub enabled: bool,
    /// The cheapest plan that includes it.
    pub plan: Plan,
}

pub(crate) fn entitlements(
    conn: &mut DbConn,
    org: &Organization,
) -> Result<Entitlements, AdminError> {
    let plan = plan_of(org)?;
    let overrides = Organization::overrides(conn, org.id, crate::clock::now())?;
    let features = Feature::ALL
        .into_iter()
        .map(|feature| FeatureState {
            feature,
            enabled: has(plan, &overrides, feature),
            plan: cheapest_with(feature),
        })
        .collect();
    Ok(Entitlements {
        org: org.slug.clone(),
        plan,
        features,
        overrides,
    })
}

/// Sets an organization's plan (audited `org.plan_changed`). Data and existing tokens stay;
/// what the new plan lacks can no longer be created.
pub(crate) fn set_plan(
    conn: &mut DbConn,
    actor: &Actor,
    slug: &str,
    plan: &str,
) -> Result<Entitlements, AdminError> {
    let plan: Plan = plan.parse().map_err(|e: UnknownPlan| {
        AdminError::Invalid(crate::validate::Invalid {
            field: "plan",
            message: e.to_string(),
        })
    })?;
    transaction(conn, |conn| {
        let org = or_not_found(Organization::find_by_slug(conn, slug), || {
            format!("organization {slug:?}")
        })?;
        Organization::set_plan(conn, org.id, plan.as_str())?;
        let detail = format!("{} -> {}", org.plan, plan);
        audit::record(
            conn,
            Some(org.id),
            actor,
            "org.plan_changed",
            Some(&org.slug),
            Some(&detail),
        )?;
        let org = Organization::find(conn, org.id)?;
        entitlements(conn, &org)
    })
}

/// Turns one feature on or off for an organization whatever its plan, until `until` if given;
/// `enabled: None` removes the override (audited `org.feature_override`).
pub(crate) fn set_override(
    conn: &mut DbConn,
    actor: &Actor,
    slug: &str,
    feature: &str,
    enabled: Option<bool>,
    until: Option<NaiveDateTime>,
) -> Result<Entitlements, AdminError> {
    let feature: Feature = feature.parse()?;
    transaction(conn, |conn| {
        let org = or_not_found(Organization::find_by_slug(conn, slug), || {
            format!("organization {slug:?}")
        })?;
        Organization::set_override(
            conn,
            org.id,
            feature.as_str(),
            enabled.map(|on| (on, until)),
        )?;
        let detail = match enabled {
            Some(true) => format!("{feature} on"),
            Some(false) => format!("{feature} off"),
            None => format!("{feature} as the plan says"),
        };
        audit::record(
            conn,
            Some(org.id),
            actor,
            "org.feature_override",
            Some(&org.slug),
            Some(&detail),
        )?;
        entitlements(conn, &org)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_beats_the_plan() {
        let on = PlanOverride {
            feature: "webhooks".into(),
            enabled: true,
            expires_at: None,
        };
        assert!(has(
            Plan::Free,
            std::slice::from_ref(&on),
            Feature::Webhooks
        ));
        assert!(!has(Plan::Free, &[on], Feature::Integrations));
        let off = PlanOverride {
            feature: "integrations".into(),
            enabled: false,
            expires_at: None,
        };
        assert!(!has(Plan::Enterprise, &[off], Feature::Integrations));
    }
}
