//! Plans and the features they include: one matrix ([`Plan::features`]) and its reverse
//! ([`plans_with`]), which tells a refusal which plan unlocks a feature. The check against an
//! organization (its plan and the operator's overrides) is `admin::plans::entitled`.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A plan, cheapest first; each includes every feature of the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    Team,
    Enterprise,
}

/// A feature a plan may lack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Feature {
    /// Private-integration tokens: creating integrations and issuing their tokens.
    Integrations,
    /// Webhook endpoints: registering them.
    Webhooks,
}

impl Plan {
    pub const ALL: [Plan; 3] = [Plan::Free, Plan::Team, Plan::Enterprise];

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Team => "team",
            Plan::Enterprise => "enterprise",
        }
    }

    /// The features of the plan: the matrix, in one place.
    pub fn features(self) -> &'static [Feature] {
        match self {
            Plan::Free => &[],
            Plan::Team => &[Feature::Integrations],
            Plan::Enterprise => &[Feature::Integrations, Feature::Webhooks],
        }
    }
}

impl Feature {
    pub const ALL: [Feature; 2] = [Feature::Integrations, Feature::Webhooks];

    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Integrations => "integrations",
            Feature::Webhooks => "webhooks",
        }
    }

    /// What the feature does, for the page that says the plan lacks it.
    pub fn describe(self) -> &'static str {
        match self {
            Feature::Integrations => {
                "Integration tokens let your own servers and scripts call the API with named, \
                 scoped keys that you can rotate, expire and revoke, and lock to source \
                 addresses."
            }
            Feature::Webhooks => {
                "Webhooks tell your systems, with signed HTTP calls, when integration tokens \
                 and OAuth clients change — rotated, expiring, revoked or leaked."
            }
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a plan (free, team or enterprise)")]
pub struct UnknownPlan(pub String);

impl FromStr for Plan {
    type Err = UnknownPlan;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Plan::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPlan(s.to_string()))
    }
}

impl FromStr for Feature {
    type Err = crate::validate::Invalid;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Feature::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| crate::validate::Invalid {
                field: "feature",
                message: format!("{s:?} is not a feature (integrations or webhooks)"),
            })
    }
}

/// The plans that include `feature`, cheapest first (the reverse of [`Plan::features`]).
pub(crate) fn plans_with(feature: Feature) -> Vec<Plan> {
    Plan::ALL
        .into_iter()
        .filter(|p| p.features().contains(&feature))
        .collect()
}

/// The cheapest plan that includes `feature`.
pub(crate) fn cheapest_with(feature: Feature) -> Plan {
    plans_with(feature)
        .first()
        .copied()
        .unwrap_or(Plan::Enterprise)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every feature × plan, and the reverse map agrees with the matrix.
    #[test]
    fn the_matrix_and_its_reverse() {
        let expected = [
            (Plan::Free, Feature::Integrations, false),
            (Plan::Free, Feature::Webhooks, false),
            (Plan::Team, Feature::Integrations, true),
            (Plan::Team, Feature::Webhooks, false),
            (Plan::Enterprise, Feature::Integrations, true),
            (Plan::Enterprise, Feature::Webhooks, true),
        ];
        for (plan, feature, included) in expected {
            assert_eq!(
                plan.features().contains(&feature),
                included,
                "{plan} {feature}"
            );
            assert_eq!(plans_with(feature).contains(&plan), included);
        }
        assert_eq!(cheapest_with(Feature::Integrations), Plan::Team);
        assert_eq!(cheapest_with(Feature::Webhooks), Plan::Enterprise);
        // Each plan includes every feature of the cheaper ones.
        for pair in Plan::ALL.windows(2) {
            for f in pair[0].features() {
                assert!(pair[1].features().contains(f));
            }
        }
        assert_eq!("team".parse::<Plan>().unwrap(), Plan::Team);
        assert!("gold".parse::<Plan>().is_err());
    }
}
