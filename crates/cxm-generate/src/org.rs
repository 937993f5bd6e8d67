//! The organisation: company → customer-care division → sites → teams → agents, with leads,
//! managers, an executive sponsor and analysts; agents who move teams, leave or join during
//! the period (effective-dated memberships); each agent's latent skill, speed and warmth.

use std::collections::HashSet;

use cxm_domain::{PersonRole, UnitLevel};
use rand::RngExt;
use rand_distr::StandardNormal;
use serde::Serialize;

use crate::calendar::{Calendar, DAY};
use crate::model::OrganisationModel;

const COMPANIES: &[&str] = &[
    "Northwind",
    "Bluewater",
    "Harbourline",
    "Greenfield",
    "Silverline",
    "Brightpath",
    "Lakeside",
    "Redwood",
];
const CITIES: &[&str] = &[
    "Leeds",
    "Porto",
    "Manila",
    "Cape Town",
    "Halifax",
    "Pune",
    "Glasgow",
    "Tucson",
    "Gdansk",
    "Cork",
    "Austin",
    "Leipzig",
];
const TEAM_WORDS: &[&str] = &[
    "Aurora", "Beacon", "Cedar", "Delta", "Ember", "Falcon", "Granite", "Harbour", "Iris",
    "Juniper", "Kestrel", "Lumen", "Maple", "Nova", "Orbit", "Pioneer", "Quartz", "Ridge",
];
const FIRST_NAMES: &[&str] = &[
    "Ana", "Ben", "Chloe", "Dmitri", "Elif", "Femi", "Grace", "Hiro", "Ines", "Jonas", "Kemi",
    "Liam", "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera",
    "Wei", "Yusuf", "Zara", "Aisha", "Bruno", "Carmen", "Diego", "Emma", "Farah", "Gustav", "Hana",
    "Ivan", "Julia", "Kai", "Lena", "Mateo", "Nia", "Oscar", "Paula", "Rahul", "Sofia", "Tomas",
    "Ulla", "Victor", "Wanda", "Xavier", "Yara", "Zoltan",
];
const LAST_NAMES: &[&str] = &[
    "Silva",
    "Novak",
    "Okafor",
    "Tanaka",
    "Schmidt",
    "Haddad",
    "Kowalski",
    "Murphy",
    "Rossi",
    "Nguyen",
    "Patel",
    "Garcia",
    "Johansson",
    "Mensah",
    "Dubois",
    "Kim",
    "Ivanova",
    "Larsen",
    "Moreau",
    "Costa",
    "Fischer",
    "Reyes",
    "Walsh",
    "Yilmaz",
    "Chen",
    "Adeyemi",
    "Bergstrom",
    "Cruz",
    "Doyle",
    "Eriksen",
    "Fernandes",
    "Gallagher",
    "Horvat",
    "Ibrahim",
    "Jensen",
    "Kaur",
    "Lopez",
    "Mahler",
    "Nakamura",
    "Oliveira",
    "Popescu",
    "Quint",
    "Santos",
    "Torres",
];

#[derive(Debug, Clone)]
pub(crate) struct Unit {
    pub id: String,
    pub name: String,
    pub parent: Option<usize>,
    pub level: UnitLevel,
}

#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: PersonRole,
}

#[derive(Debug, Clone)]
pub(crate) struct Membership {
    pub person: usize,
    pub unit: usize,
    pub from: i64,
    pub to: Option<i64>,
}

/// An agent's latent traits (standard normal across established agents).
#[derive(Debug, Clone, Serialize)]
pub struct AgentTruth {
    pub person_id: String,
    pub name: String,
    /// Teams in order of membership.
    pub teams: Vec<String>,
    /// Resolution skill: raises resolution, lowers holds and transfers.
    pub skill: f64,
    /// Handling speed: shortens talk and hold time.
    pub speed: f64,
    /// Warmth: raises courtesy ratings and proactive sales offers.
    pub warmth: f64,
    /// Set when the agent was hired during the period (`YYYY-MM-DD`).
    pub hired_on: Option<String>,
    /// Set when the agent left during the period.
    pub left_on: Option<String>,
}

pub(crate) struct Agent {
    pub person: usize,
    pub skill: f64,
    pub speed: f64,
    pub warmth: f64,
}

pub(crate) struct Organisation {
    pub company_name: String,
    pub units: Vec<Unit>,
    pub people: Vec<Person>,
    pub memberships: Vec<Membership>,
    pub agents: Vec<Agent>,
    pub truth: Vec<AgentTruth>,
    /// Agents at work on each day of the period (indexes into `agents`).
    roster: Vec<Vec<u32>>,
}

struct Names<'a, R> {
    rng: &'a mut R,
    emails: HashSet<String>,
    domain: String,
}

impl<R: RngExt> Names<'_, R> {
    fn person(&mut self, people: &mut Vec<Person>, role: PersonRole) -> usize {
        let first = FIRST_NAMES[self.rng.random_range(0..FIRST_NAMES.len())];
        let last = LAST_NAMES[self.rng.random_range(0..LAST_NAMES.len())];
        let local = format!("{}.{}", first.to_lowercase(), last.to_lowercase());
        let mut email = format!("{local}@{}", self.domain);
        let mut n = 2;
        while !self.emails.insert(email.clone()) {
            email = format!("{local}{n}@{}", self.domain);
            n += 1;
        }
        people.push(Person {
            id: format!("P{:05}", people.len() + 1),
            name: format!("{first} {last}"),
            email,
            role,
        });
        people.len() - 1
    }
}

fn date_text(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

impl Organisation {
    pub fn generate<R: RngExt>(
        model: &OrganisationModel,
        calendar: &Calendar,
        rng: &mut R,
    ) -> Self {
        let company_name = COMPANIES[rng.random_range(0..COMPANIES.len())];
        let mut names = Names {
            domain: format!("{}.example", company_name.to_lowercase()),
            emails: HashSet::new(),
            rng,
        };
        let start = calendar.start;
        let end = calendar.end;
        let mut units = vec![
            Unit {
                id: "CO".into(),
                name: format!("{company_name} Communications"),
                parent: None,
                level: UnitLevel::Company,
            },
            Unit {
                id: "CC".into(),
                name: "Customer Care".into(),
                parent: Some(0),
                level: UnitLevel::Division,
            },
        ];
        let mut people = Vec::new();
        let mut memberships = Vec::new();
        let staff = |names: &mut Names<'_, R>,
                     people: &mut Vec<Person>,
                     memberships: &mut Vec<Membership>,
                     role: PersonRole,
                     unit: usize| {
            let person = names.person(people, role);
            let years_ago = 1.0 + names.rng.random::<f64>() * 9.0;
            memberships.push(Membership {
                person,
                unit,
                from: start - (years_ago * 365.0) as i64 * DAY,
                to: None,
            });
        };
        staff(
            &mut names,
            &mut people,
            &mut memberships,
            PersonRole::Executive,
            0,
        );
        staff(
            &mut names,
            &mut people,
            &mut memberships,
            PersonRole::Analyst,
            0,
        );
        staff(
            &mut names,
            &mut people,
            &mut memberships,
            PersonRole::Analyst,
            0,
        );
        staff(
            &mut names,
            &mut people,
            &mut memberships,
            PersonRole::Manager,
            1,
        );

        let mut cities: Vec<&str> = CITIES.to_vec();
        let mut teams = Vec::new();
        for s in 0..model.sites as usize {
            let city = if cities.is_empty() {
                format!("Site {}", s + 1)
            } else {
                cities
                    .swap_remove(names.rng.random_range(0..cities.len()))
                    .to_owned()
            };
            let site = units.len();
            units.push(Unit {
                id: format!("S{:02}", s + 1),
                name: city.clone(),
                parent: Some(1),
                level: UnitLevel::Site,
            });
            staff(
                &mut names,
                &mut people,
                &mut memberships,
                PersonRole::Manager,
                site,
            );
            let team_count = names
                .rng
                .random_range(model.teams_per_site[0]..=model.teams_per_site[1]);
            let mut words: Vec<&str> = TEAM_WORDS.to_vec();
            for t in 0..team_count as usize {
                let word = if words.is_empty() {
                    format!("Team {}", t + 1)
                } else {
                    words
                        .swap_remove(names.rng.random_range(0..words.len()))
                        .to_owned()
                };
                let team = units.len();
                units.push(Unit {
                    id: format!("S{:02}-T{:02}", s + 1, t + 1),
                    name: format!("{city} {word}"),
                    parent: Some(site),
                    level: UnitLevel::Team,
                });
                teams.push((team, site));
                staff(
                    &mut names,
                    &mut people,
                    &mut memberships,
                    PersonRole::Lead,
                    team,
                );
            }
        }

        // Agents at the start, then movers, leavers and hires.
        let mut agents = Vec::new();
        let mut truth = Vec::new();
        let mut agent_memberships: Vec<Vec<Membership>> = Vec::new();
        let span = (end - start) / DAY;
        let mut add_agent = |names: &mut Names<'_, R>,
                             people: &mut Vec<Person>,
                             team: usize,
                             from: i64,
                             skill_shift: f64| {
            let person = names.person(people, PersonRole::Agent);
            let skill: f64 = names.rng.sample::<f64, _>(StandardNormal) + skill_shift;
            let speed: f64 = names.rng.sample(StandardNormal);
            let warmth: f64 = names.rng.sample(StandardNormal);
            agents.push(Agent {
                person,
                skill,
                speed,
                warmth,
            });
            agent_memberships.push(vec![Membership {
                person,
                unit: team,
                from,
                to: None,
            }]);
            truth.push((skill, speed, warmth));
        };
        let mut established = 0;
        for &(team, _) in &teams {
            let count = names
                .rng
                .random_range(model.agents_per_team[0]..=model.agents_per_team[1]);
            for _ in 0..count {
                let years_ago = 0.1 + names.rng.random::<f64>() * 8.0;
                let from = start - (years_ago * 365.0) as i64 * DAY;
                add_agent(&mut names, &mut people, team, from, 0.0);
                established += 1;
            }
        }
        let hires = (model.hire_share * established as f64).round() as usize;
        let mut hired_on = vec![None; established];
        for _ in 0..hires {
            let (team, _) = teams[names.rng.random_range(0..teams.len())];
            let day = names.rng.random_range(0..(span - 30).max(1));
            add_agent(
                &mut names,
                &mut people,
                team,
                start + day * DAY,
                model.new_hire_skill_shift,
            );
            hired_on.push(Some(start + day * DAY));
        }
        let mut left_on = vec![None; agent_memberships.len()];
        for (a, history) in agent_memberships.iter_mut().enumerate() {
            let joined = history[0].from;
            let earliest_day = ((joined - start) / DAY).max(0) + 30;
            if earliest_day >= span - 15 {
                continue;
            }
            let u: f64 = names.rng.random();
            if u < model.leave_share {
                let day = names.rng.random_range(earliest_day..span);
                history[0].to = Some(start + day * DAY);
                left_on[a] = Some(start + day * DAY);
            } else if u < model.leave_share + model.move_share && teams.len() > 1 {
                let day = names.rng.random_range(earliest_day..span - 15);
                let at = start + day * DAY;
                let from_team = history[0].unit;
                let site = teams.iter().find(|(t, _)| *t == from_team).map(|x| x.1);
                let same_site: Vec<usize> = teams
                    .iter()
                    .filter(|(t, s)| *t != from_team && Some(*s) == site)
                    .map(|x| x.0)
                    .collect();
                let to_team = if !same_site.is_empty() && names.rng.random::<f64>() < 0.7 {
                    same_site[names.rng.random_range(0..same_site.len())]
                } else {
                    loop {
                        let (t, _) = teams[names.rng.random_range(0..teams.len())];
                        if t != from_team {
                            break t;
                        }
                    }
                };
                history[0].to = Some(at);
                history.push(Membership {
                    person: history[0].person,
                    unit: to_team,
                    from: at,
                    to: None,
                });
            }
        }

        let days = calendar.days;
        let mut roster = vec![Vec::new(); days];
        for (a, history) in agent_memberships.iter().enumerate() {
            for m in history {
                for (d, day_agents) in roster.iter_mut().enumerate() {
                    let midnight = start + d as i64 * DAY;
                    if m.from <= midnight && m.to.is_none_or(|to| to > midnight) {
                        day_agents.push(a as u32);
                    }
                }
            }
        }
        let truth = agents
            .iter()
            .zip(&agent_memberships)
            .enumerate()
            .map(|(a, (agent, history))| AgentTruth {
                person_id: people[agent.person].id.clone(),
                name: people[agent.person].name.clone(),
                teams: history.iter().map(|m| units[m.unit].id.clone()).collect(),
                skill: truth[a].0,
                speed: truth[a].1,
                warmth: truth[a].2,
                hired_on: hired_on[a].map(date_text),
                left_on: left_on[a].map(date_text),
            })
            .collect();
        memberships.extend(agent_memberships.into_iter().flatten());
        Organisation {
            company_name: units[0].name.clone(),
            units,
            people,
            memberships,
            agents,
            truth,
            roster,
        }
    }

    /// The agent who takes a contact on `day`, from a uniform draw; `None` if nobody works.
    pub fn agent_on(&self, day: usize, u: f64) -> Option<u32> {
        let on_duty = self.roster.get(day)?;
        if on_duty.is_empty() {
            return None;
        }
        let i = ((u * on_duty.len() as f64) as usize).min(on_duty.len() - 1);
        Some(on_duty[i])
    }

    pub fn person_id(&self, agent: u32) -> &str {
        &self.people[self.agents[agent as usize].person].id
    }
}
