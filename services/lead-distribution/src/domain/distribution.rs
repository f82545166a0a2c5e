//! The daily distribution, as a pure function: who gets which lead.
//!
//! Fairness: the reps are put in a rotation order shuffled per business day
//! from a recorded seed (no one is favoured by seniority or id), and leads
//! are dealt as a snake draft: round 1 in rotation order, round 2 reversed,
//! and so on, so the first seat gets no edge. In each turn a rep takes the
//! best remaining lead (pool priority, score, age) in their own city, else
//! the best in any city, never one they lost within the cooldown. A rep's
//! turn ends their share once their room for the day is used.

use crate::domain::ids::{LeadId, PersonId};
use std::collections::{HashMap, HashSet};

use rand::{SeedableRng as _, seq::SliceRandom as _};

/// A rep taking part, with the room left today (quota − received today).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    /// Employee number.
    pub person_id: PersonId,
    /// City.
    pub city: String,
    /// Leads still to receive today.
    pub room: u32,
}

/// A pool lead, in priority order (the caller sorts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolLead {
    /// Id.
    pub lead_id: LeadId,
    /// City.
    pub city: String,
    /// Reps who lost it within the cooldown.
    pub cooldown: HashSet<PersonId>,
}

/// One decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deal {
    /// The lead.
    pub lead_id: LeadId,
    /// The rep.
    pub person_id: PersonId,
    /// The rep's position in the day's rotation (0-based).
    pub position: u32,
    /// The round (1-based).
    pub round: u32,
    /// True when the lead is in the rep's city.
    pub same_city: bool,
}

/// The day's rotation: `person_ids` sorted, then shuffled by `seed`.
pub fn rotation(person_ids: &[PersonId], seed: u64) -> Vec<PersonId> {
    let mut order = person_ids.to_vec();
    order.sort();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    order
}

/// Deals `leads` (best first) to `seats` (in rotation order).
pub fn deal(seats: &[Seat], leads: &[PoolLead]) -> Vec<Deal> {
    let mut room: Vec<u32> = seats.iter().map(|s| s.room).collect();
    let mut taken = vec![false; leads.len()];
    let mut by_city: HashMap<&str, Cursor> = HashMap::new();
    for (i, lead) in leads.iter().enumerate() {
        by_city.entry(lead.city.as_str()).or_default().indexes.push(i);
    }
    let mut any_city = Cursor {
        indexes: (0..leads.len()).collect(),
        next: 0,
    };
    let mut deals = Vec::new();
    for round in 1u32.. {
        let mut dealt = false;
        let forward = round % 2 == 1;
        for k in 0..seats.len() {
            let position = if forward { k } else { seats.len() - 1 - k };
            if room[position] == 0 {
                continue;
            }
            let seat = &seats[position];
            let eligible = |i: usize| !leads[i].cooldown.contains(&seat.person_id);
            let same = by_city
                .get_mut(seat.city.as_str())
                .and_then(|c| c.take(&mut taken, eligible));
            let (index, same_city) = match same {
                Some(i) => (i, true),
                None => match any_city.take(&mut taken, eligible) {
                    Some(i) => (i, leads[i].city == seat.city),
                    None => continue,
                },
            };
            room[position] -= 1;
            dealt = true;
            deals.push(Deal {
                lead_id: leads[index].lead_id.clone(),
                person_id: seat.person_id.clone(),
                position: position as u32,
                round,
                same_city,
            });
        }
        if !dealt {
            break;
        }
    }
    deals
}

/// A list of lead indexes in priority order and the first not yet taken.
#[derive(Debug, Default)]
struct Cursor {
    indexes: Vec<usize>,
    next: usize,
}

impl Cursor {
    /// Takes the best untaken lead that `eligible` accepts.
    fn take(&mut self, taken: &mut [bool], eligible: impl Fn(usize) -> bool) -> Option<usize> {
        while self.next < self.indexes.len() && taken[self.indexes[self.next]] {
            self.next += 1;
        }
        // Leads in cooldown for this rep are skipped, not consumed: others may take them.
        let found = self.indexes[self.next..]
            .iter()
            .copied()
            .find(|&i| !taken[i] && eligible(i))?;
        taken[found] = true;
        Some(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seats(n: usize, room: u32) -> Vec<Seat> {
        (0..n)
            .map(|i| Seat {
                person_id: format!("E{i:02}").into(),
                city: "杭州".into(),
                room,
            })
            .collect()
    }

    fn leads(n: usize, city: &str) -> Vec<PoolLead> {
        (0..n)
            .map(|i| PoolLead {
                lead_id: format!("L{i:04}").into(),
                city: city.into(),
                cooldown: HashSet::new(),
            })
            .collect()
    }

    #[test]
    fn ten_reps_with_quota_40_from_400_leads_each_get_exactly_40() {
        let deals = deal(&seats(10, 40), &leads(400, "杭州"));
        assert_eq!(deals.len(), 400);
        for seat in seats(10, 40) {
            assert_eq!(deals.iter().filter(|d| d.person_id == seat.person_id).count(), 40);
        }
        let unique: HashSet<_> = deals.iter().map(|d| &d.lead_id).collect();
        assert_eq!(unique.len(), 400, "a lead dealt twice");
    }

    #[test]
    fn the_best_40_leads_are_spread_four_per_rep_give_or_take_one() {
        let deals = deal(&seats(10, 40), &leads(400, "杭州"));
        let mut top: HashMap<&str, usize> = HashMap::new();
        for d in deals.iter().filter(|d| d.lead_id.as_str() < "L0040") {
            *top.entry(d.person_id.as_str()).or_default() += 1;
        }
        assert_eq!(top.len(), 10);
        assert!(top.values().all(|&n| (3..=5).contains(&n)), "{top:?}");
        // The single best 10 go one to each rep.
        let first_round: HashSet<_> = deals
            .iter()
            .filter(|d| d.lead_id.as_str() < "L0010")
            .map(|d| &d.person_id)
            .collect();
        assert_eq!(first_round.len(), 10);
    }

    #[test]
    fn rotation_differs_between_days_and_is_reproducible() {
        let ids: Vec<PersonId> = (0..10).map(|i| format!("E{i:02}").into()).collect();
        assert_eq!(rotation(&ids, 7), rotation(&ids, 7));
        assert_ne!(rotation(&ids, 7), rotation(&ids, 8));
        let mut sorted = rotation(&ids, 7);
        sorted.sort();
        assert_eq!(sorted, ids);
    }

    #[test]
    fn a_recorded_rotation_is_re_derived_from_its_seed_and_the_reps_in_it() {
        // What a run records: the seed and the rotation. An auditor sorts the
        // rotation's reps (the order the ACTIVE reps were read in does not
        // matter) and shuffles them with the seed: the same order comes out.
        let seed = 0x5eed_2026_0302;
        let active = ["E07", "E03", "E11", "E01", "E05"].map(PersonId::from);
        let recorded = rotation(&active, seed);
        let mut reps_in_it = recorded.clone();
        reps_in_it.sort();
        reps_in_it.reverse();
        assert_eq!(rotation(&reps_in_it, seed), recorded);
        assert_ne!(rotation(&reps_in_it, seed + 1), recorded, "another seed, another order");
    }

    #[test]
    fn same_city_first_then_any_city() {
        let seats = vec![
            Seat {
                person_id: "A".into(),
                city: "宁波".into(),
                room: 2,
            },
            Seat {
                person_id: "B".into(),
                city: "杭州".into(),
                room: 2,
            },
        ];
        let mut pool = leads(3, "杭州");
        pool.push(PoolLead {
            lead_id: "L9999".into(),
            city: "宁波".into(),
            cooldown: HashSet::new(),
        });
        let deals = deal(&seats, &pool);
        let a: Vec<_> = deals
            .iter()
            .filter(|d| d.person_id == "A")
            .map(|d| (d.lead_id.as_str(), d.same_city))
            .collect();
        assert_eq!(
            a[0],
            ("L9999", true),
            "A takes the only Ningbo lead first, though it is ranked last"
        );
        assert!(!a[1].1, "then any city");
    }

    #[test]
    fn a_rep_never_receives_a_lead_in_cooldown_for_them() {
        let mut pool = leads(2, "杭州");
        pool[0].cooldown.insert("E00".into());
        let deals = deal(&seats(1, 2), &pool);
        assert_eq!(deals.len(), 1);
        assert_eq!(deals[0].lead_id, "L0001");
    }

    #[test]
    fn a_rep_hired_today_gets_the_same_as_a_veteran() {
        // Seniority plays no part: equal room means an equal share.
        let mut s = seats(2, 20);
        s[0].person_id = "NEW-HIRE".into();
        let deals = deal(&s, &leads(100, "杭州"));
        assert_eq!(deals.iter().filter(|d| d.person_id == "NEW-HIRE").count(), 20);
        assert_eq!(deals.iter().filter(|d| d.person_id == "E01").count(), 20);
    }

    #[test]
    fn forty_thousand_leads_over_a_thousand_reps_are_dealt_in_one_pass() {
        let deals = deal(&seats(1000, 40), &leads(40_000, "杭州"));
        assert_eq!(deals.len(), 40_000);
    }
}
