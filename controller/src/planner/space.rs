//! The combinations of one deployment as bit sets, and the constraints compiled against them.
//!
//! Only the component types the deployment changes can differ between the combinations it
//! passes through, so a combination is a [`Mask`] over those types (bit set: the type runs
//! its target Artifact; clear: what it runs now). Each table entry is compiled once into the
//! masks of the types whose old and new Artifacts it accepts, so testing a combination is a
//! few word operations, and testing a whole *cube* of them (some types fixed, the others
//! free to be old or new, as inside an order group whose members change in parallel) is a
//! small search. Pure.

use crate::model::{Combination, CombinationPattern, ComponentType, Constraints, Order, Running};

use super::{Proposal, MAX_CHANGING_TYPES};

/// A combination: bit i set when changing type i runs its target.
pub(crate) type Mask = u128;

/// One table entry, compiled for one deployment.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    /// The entry accepts what every unchanging type runs.
    constant_ok: bool,
    /// Changing types whose current Artifact the entry accepts.
    ok_old: Mask,
    /// Changing types whose target Artifact the entry accepts.
    ok_new: Mask,
}

/// How an entry relates to a cube of combinations.
enum Relation {
    /// It matches every combination of the cube.
    Covers,
    /// It matches none.
    Disjoint,
    /// It matches some: splitting on this free type separates them.
    Splits(Mask),
}

/// The changing types of a deployment and its compiled constraints.
#[derive(Debug, Clone)]
pub(crate) struct Space {
    pub types: Vec<ComponentType>,
    pub old: Vec<Running>,
    pub new: Vec<Running>,
    /// The order of each changing type.
    pub orders: Vec<Order>,
    /// Every changing type.
    pub all: Mask,
    pub no_rollback: Mask,
    /// What the other types run, throughout.
    constant: Combination,
    passable: Vec<Compiled>,
    end_states: Vec<Compiled>,
    /// True when end states are given (the end state must then be one).
    pub end_states_given: bool,
}

pub(crate) fn bit(i: usize) -> Mask {
    1 << i
}

/// The indexes of the set bits, lowest first.
pub(crate) fn members(m: Mask) -> impl Iterator<Item = usize> {
    (0..Mask::BITS as usize).filter(move |i| m & bit(*i) != 0)
}

impl Space {
    /// Compiles `constraints` for `proposal`; `Err(n)` when n types change, over the limit.
    pub fn new(constraints: &Constraints, proposal: &Proposal) -> Result<Self, usize> {
        let mut constant = proposal.current.clone();
        let (mut types, mut old, mut new, mut orders) = (vec![], vec![], vec![], vec![]);
        for (t, target) in &proposal.target {
            let now = proposal.current.running(t);
            let then = Running::one(target.artifact.clone());
            if now == then {
                constant.0.insert(t.clone(), then);
                continue;
            }
            constant.0.remove(t);
            types.push(t.clone());
            old.push(now);
            new.push(then);
            orders.push(target.order);
        }
        if types.len() > MAX_CHANGING_TYPES {
            return Err(types.len());
        }
        let all = if types.len() == MAX_CHANGING_TYPES {
            Mask::MAX
        } else {
            bit(types.len()) - 1
        };
        let no_rollback = (0..types.len())
            .filter(|i| proposal.no_rollback.contains(&types[*i]))
            .fold(0, |m, i| m | bit(i));
        let mut space = Self {
            types,
            old,
            new,
            orders,
            all,
            no_rollback,
            constant,
            passable: vec![],
            end_states: vec![],
            end_states_given: !constraints.end_states.is_empty(),
        };
        space.passable = constraints.passable().map(|e| space.compile(e)).collect();
        space.end_states = constraints
            .end_states
            .iter()
            .map(|e| space.compile(&e.artifacts))
            .collect();
        Ok(space)
    }

    fn compile(&self, entry: &CombinationPattern) -> Compiled {
        let mut c = Compiled {
            constant_ok: true,
            ok_old: self.all,
            ok_new: self.all,
        };
        for (t, pattern) in &entry.0 {
            match self.types.iter().position(|x| x == t) {
                Some(i) => {
                    if !pattern.matches(&self.old[i]) {
                        c.ok_old &= !bit(i);
                    }
                    if !pattern.matches(&self.new[i]) {
                        c.ok_new &= !bit(i);
                    }
                }
                None => c.constant_ok &= pattern.matches(&self.constant.running(t)),
            }
        }
        c
    }

    /// The full combination a mask stands for.
    pub fn combination(&self, p: Mask) -> Combination {
        let mut c = self.constant.clone();
        for (i, t) in self.types.iter().enumerate() {
            let r = if p & bit(i) != 0 {
                &self.new[i]
            } else {
                &self.old[i]
            };
            c.0.insert(t.clone(), r.clone());
        }
        c
    }

    /// The combination the System is in now, and the end state, need no transition entry:
    /// the System is already in the first (a rollback only returns it there), and the second
    /// answers to the end-state rule.
    pub fn exempt(&self, p: Mask) -> bool {
        p == 0 || p == self.all
    }

    fn matches(&self, e: &Compiled, p: Mask) -> bool {
        e.constant_ok && p & !e.ok_new == 0 && (self.all & !p) & !e.ok_old == 0
    }

    /// The System may pass through `p`.
    pub fn passable(&self, p: Mask) -> bool {
        self.exempt(p) || self.passable.iter().any(|e| self.matches(e, p))
    }

    /// The end state is one of the end states (or none are given).
    pub fn end_state_ok(&self) -> bool {
        !self.end_states_given || self.end_states.iter().any(|e| self.matches(e, self.all))
    }

    fn relation(&self, e: &Compiled, fixed_new: Mask, free: Mask) -> Relation {
        let fixed_old = self.all & !fixed_new & !free;
        let both = e.ok_old & e.ok_new;
        if !e.constant_ok
            || fixed_new & !e.ok_new != 0
            || fixed_old & !e.ok_old != 0
            || free & !(e.ok_old | e.ok_new) != 0
        {
            return Relation::Disjoint;
        }
        match free & !both {
            0 => Relation::Covers,
            split => Relation::Splits(split & split.wrapping_neg()),
        }
    }

    /// A combination of the cube (`fixed_new` set, `free` either way, the rest old) that the
    /// System may not pass through, if there is one.
    pub fn first_uncovered(&self, fixed_new: Mask, free: Mask) -> Option<Mask> {
        let mut split = None;
        for e in &self.passable {
            match self.relation(e, fixed_new, free) {
                Relation::Covers => return None,
                Relation::Disjoint => {}
                Relation::Splits(b) => split = split.or(Some(b)),
            }
        }
        match split {
            // Entries match parts of the cube: look at each half.
            Some(b) => self
                .first_uncovered(fixed_new | b, free & !b)
                .or_else(|| self.first_uncovered(fixed_new, free & !b)),
            // No entry matches any combination of the cube: any non-exempt one is a witness.
            None => self.any_point(fixed_new, free),
        }
    }

    /// A combination of the cube that is not exempt.
    fn any_point(&self, fixed_new: Mask, free: Mask) -> Option<Mask> {
        let lowest = free & free.wrapping_neg();
        if free.count_ones() >= 2 {
            // One free type new and another old: neither the start nor the end.
            return Some(fixed_new | lowest);
        }
        [fixed_new | lowest, fixed_new]
            .into_iter()
            .find(|p| !self.exempt(*p))
    }

    /// The order groups of the changing types: (order, members), ascending.
    pub fn groups(&self) -> Vec<(Order, Mask)> {
        let mut out: Vec<(Order, Mask)> = Vec::new();
        let mut orders = self.orders.clone();
        orders.sort();
        orders.dedup();
        for o in orders {
            let m = (0..self.types.len())
                .filter(|i| self.orders[*i] == o)
                .fold(0, |m, i| m | bit(i));
            out.push((o, m));
        }
        out
    }

    /// The names of the types in `m`.
    pub fn names(&self, m: Mask) -> Vec<ComponentType> {
        members(m & self.all)
            .map(|i| self.types[i].clone())
            .collect()
    }
}
