//! The reclaim handover (DESIGN §4): a lead taken back at a deadline goes at
//! once to a colleague with room today, decided for the whole sweep at once
//! so that same-city matches are not used up by leads from elsewhere:
//!
//! 1. same city first: each city's returned leads go to that city's reps,
//!    the lead with the fewest candidates first, each to the candidate with
//!    the most room left (then by person_id);
//! 2. then any city: what is left goes to any rep with room, most room first;
//! 3. what still has no taker goes back to the pool, first in line.
//!
//! A rep never receives a lead they lost within the cooldown, and the rep
//! who just lost it is among those.

use crate::domain::ids::{LeadId, PersonId};
use std::collections::{BTreeMap, HashSet};

use super::distribution::Seat;

/// A lead just taken back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Returned {
    /// The lead.
    pub lead_id: LeadId,
    /// Its city.
    pub city: String,
    /// Reps who may not receive it: the one who lost it now and any whose
    /// cooldown on it still runs.
    pub barred: HashSet<PersonId>,
}

/// One handover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handover {
    /// The lead.
    pub lead_id: LeadId,
    /// The receiving rep.
    pub person_id: PersonId,
    /// The lead is in the rep's city.
    pub same_city: bool,
}

/// Who receives which of `returned` (in the order the sweep took them back)
/// among `seats`; leads left out of the answer go back to the pool.
pub fn plan(returned: &[Returned], seats: &[Seat]) -> Vec<Handover> {
    let mut room: Vec<u32> = seats.iter().map(|s| s.room).collect();
    let mut placed: Vec<Option<usize>> = vec![None; returned.len()];

    // 1. Same city, city by city, the most constrained lead first.
    let mut by_city: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, lead) in returned.iter().enumerate() {
        by_city.entry(lead.city.as_str()).or_default().push(i);
    }
    for (city, mut leads) in by_city {
        let candidates = |i: usize| {
            seats
                .iter()
                .enumerate()
                .filter(move |(_, s)| s.city == city && !returned[i].barred.contains(&s.person_id))
                .map(|(k, _)| k)
        };
        leads.sort_by_key(|&i| (candidates(i).filter(|&k| room[k] > 0).count(), i));
        for i in leads {
            if let Some(k) = best(candidates(i), &room, seats) {
                room[k] -= 1;
                placed[i] = Some(k);
            }
        }
    }

    // 2. Any city, for what is left, in the sweep's order.
    for (i, lead) in returned.iter().enumerate() {
        if placed[i].is_some() {
            continue;
        }
        let anyone = (0..seats.len()).filter(|&k| !lead.barred.contains(&seats[k].person_id));
        if let Some(k) = best(anyone, &room, seats) {
            room[k] -= 1;
            placed[i] = Some(k);
        }
    }

    returned
        .iter()
        .zip(placed)
        .filter_map(|(lead, k)| {
            k.map(|k| Handover {
                lead_id: lead.lead_id.clone(),
                person_id: seats[k].person_id.clone(),
                same_city: seats[k].city == lead.city,
            })
        })
        .collect()
}

/// The candidate with the most room left (then the lowest person_id), if any has room.
fn best(candidates: impl Iterator<Item = usize>, room: &[u32], seats: &[Seat]) -> Option<usize> {
    candidates
        .filter(|&k| room[k] > 0)
        .max_by(|&a, &b| room[a].cmp(&room[b]).then(seats[b].person_id.cmp(&seats[a].person_id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(id: &str, city: &str, room: u32) -> Seat {
        Seat {
            person_id: id.into(),
            city: city.into(),
            room,
        }
    }

    fn lead(id: &str, city: &str, barred: &[&str]) -> Returned {
        Returned {
            lead_id: id.into(),
            city: city.into(),
            barred: barred.iter().map(|s| PersonId::from(*s)).collect(),
        }
    }

    #[test]
    fn leads_from_elsewhere_do_not_use_up_a_citys_room() {
        // The Shanghai lead comes first; lead by lead it would have taken a
        // Hangzhou or Ningbo rep's only seat.
        let seats = [seat("H1", "杭州", 1), seat("N1", "宁波", 1)];
        let returned = [lead("X", "上海", &[]), lead("H", "杭州", &[]), lead("N", "宁波", &[])];
        let plan = plan(&returned, &seats);
        assert_eq!(plan.len(), 2, "{plan:?}");
        assert!(plan.iter().all(|h| h.same_city), "{plan:?}");
        assert!(
            !plan.iter().any(|h| h.lead_id == "X"),
            "the Shanghai lead goes back to the pool"
        );
    }

    #[test]
    fn every_lead_goes_same_city_when_the_citys_room_allows() {
        let cities = ["杭州", "宁波", "温州", "义乌"];
        let seats: Vec<Seat> = (0..40).map(|i| seat(&format!("R{i:02}"), cities[i % 4], 4)).collect();
        // 152 returned leads: 38 per city, interleaved with 20 from a city without reps.
        let mut returned = Vec::new();
        for i in 0..172 {
            let city = if i % 9 == 0 { "上海" } else { cities[i % 4] };
            returned.push(lead(&format!("L{i:03}"), city, &[]));
        }
        let local = returned.iter().filter(|l| l.city != "上海").count();
        let plan = plan(&returned, &seats);
        let same = plan.iter().filter(|h| h.same_city).count();
        assert_eq!(same, local, "every lead with a rep of its city went to one");
        assert_eq!(
            plan.len(),
            160,
            "all the room is used; the other 12 go back to the pool"
        );
    }

    #[test]
    fn the_rep_who_lost_it_never_gets_it_back_and_room_spreads() {
        let seats = [seat("A", "杭州", 5), seat("B", "杭州", 2)];
        let returned = [
            lead("L1", "杭州", &["A"]),
            lead("L2", "杭州", &[]),
            lead("L3", "杭州", &[]),
        ];
        let plan = plan(&returned, &seats);
        let to = |id: &str| plan.iter().find(|h| h.lead_id == id).map(|h| h.person_id.as_str());
        assert_eq!(to("L1"), Some("B"), "A lost L1");
        assert_eq!(to("L2"), Some("A"), "the most room first");
        assert_eq!(to("L3"), Some("A"));
    }

    #[test]
    fn with_no_room_anywhere_every_lead_goes_back_to_the_pool() {
        let seats = [seat("A", "杭州", 0)];
        assert!(plan(&[lead("L1", "杭州", &[])], &seats).is_empty());
    }
}
