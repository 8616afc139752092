//! The seed's generator: customers one after another from one seeded generator.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use entity::order::{AddressSnapshot, OrderStatus};
use entity::{
    address, customer, customer_group, customer_group_customer, customer_spend, line_item, order,
};
use sea_orm::ActiveValue::{NotSet, Set, Unchanged};
use uuid::Uuid;

const GROUPS: [&str; 20] = [
    "VIP",
    "Wholesale",
    "Newsletter",
    "Loyalty Gold",
    "Loyalty Silver",
    "Loyalty Bronze",
    "Employees",
    "Press",
    "Influencers",
    "B2B Europe",
    "B2B North America",
    "Students",
    "Returning Buyers",
    "High Returns",
    "Black Friday 2025",
    "Holiday Shoppers",
    "Early Access",
    "Subscribers",
    "Gift Card Holders",
    "Win-back",
];
const FIRST_NAMES: [&str; 24] = [
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Frances",
    "Edsger",
    "Radia",
    "Donald",
    "Hedy",
    "Tim",
    "Katherine",
    "John",
    "Sophie",
    "Bjarne",
    "Mary",
    "Guido",
    "Anita",
    "Yukihiro",
    "Joan",
    "Niklaus",
];
const LAST_NAMES: [&str; 24] = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Knuth",
    "Lamarr",
    "Berners-Lee",
    "Johnson",
    "McCarthy",
    "Wilson",
    "Stroustrup",
    "Keller",
    "van Rossum",
    "Borg",
    "Matsumoto",
    "Clarke",
    "Wirth",
];
const CITIES: [(&str, &str, &str); 10] = [
    ("Berlin", "DE", "10115"),
    ("Copenhagen", "DK", "1050"),
    ("Lyon", "FR", "69001"),
    ("Toronto", "CA", "M5H 2N2"),
    ("Austin", "US", "78701"),
    ("Osaka", "JP", "530-0001"),
    ("Melbourne", "AU", "3000"),
    ("Porto", "PT", "4000-001"),
    ("Utrecht", "NL", "3511"),
    ("Edinburgh", "GB", "EH1 1YZ"),
];
const PRODUCTS: [(&str, &str, i64); 8] = [
    ("Merino T-Shirt", "TS-MER", 3_500),
    ("Canvas Tote", "BAG-CNV", 1_800),
    ("Trail Sneakers", "SH-TRL", 11_900),
    ("Rain Jacket", "JK-RAIN", 14_500),
    ("Wool Socks (3 pack)", "SK-WL3", 2_400),
    ("Ceramic Mug", "MUG-CER", 1_600),
    ("Linen Shirt", "SH-LIN", 6_900),
    ("Gift Card", "GC-50", 5_000),
];
const CURRENCIES: [&str; 3] = ["EUR", "USD", "GBP"];

/// SplitMix64: a tiny, well-known generator, plenty for demo data (not for secrets).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A version-7 UUID for `time`: time-ordered like the ids the server makes, but
    /// with reproducible random bits.
    fn uuid_at(&mut self, time: DateTime<Utc>) -> Uuid {
        let millis = u64::try_from(time.timestamp_millis()).unwrap_or(0);
        let random: [u8; 10] = {
            let bytes = [self.next().to_le_bytes(), self.next().to_le_bytes()].concat();
            let mut out = [0u8; 10];
            out.copy_from_slice(&bytes[..10]);
            out
        };
        uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
    }
}

/// Order numbers that follow placement time, as in a live store, by the order the
/// orders are generated in: one pass of the generator over `count` customers that
/// keeps each order's placement time (ties in generation order). 16 bytes per order
/// while it sorts, 4 after (40 MB for the 2,000,000 orders of 1,000,000 customers):
/// numbering the loaded orders with one UPDATE instead took 80 s of that seed.
pub(super) fn order_numbers(count: usize, chunk_size: usize) -> Vec<u32> {
    let mut generator = Generator::new(count);
    let mut placed: Vec<(i64, u32)> = Vec::new();
    while let Some(chunk) = generator.next_chunk(chunk_size) {
        for order in chunk.orders {
            let millis = match order.created_at {
                Set(at) | Unchanged(at) => at.timestamp_millis(),
                NotSet => 0,
            };
            placed.push((millis, placed.len() as u32));
        }
    }
    placed.sort_unstable();
    let mut numbers = vec![0; placed.len()];
    for (rank, (_, generated)) in placed.into_iter().enumerate() {
        numbers[generated as usize] = rank as u32 + 1;
    }
    numbers
}

/// The rows of one chunk of customers.
#[derive(Default)]
pub(super) struct Chunk {
    pub(super) customers: Vec<customer::ActiveModel>,
    pub(super) addresses: Vec<address::ActiveModel>,
    pub(super) memberships: Vec<customer_group_customer::ActiveModel>,
    pub(super) orders: Vec<order::ActiveModel>,
    pub(super) line_items: Vec<line_item::ActiveModel>,
    pub(super) spend: Vec<customer_spend::ActiveModel>,
}

/// Generates customers one after another from one seeded generator, so any chunking
/// gives the same rows.
pub(super) struct Generator {
    rng: Rng,
    count: usize,
    next: usize,
    epoch: DateTime<Utc>,
    spacing: TimeDelta,
    pub(super) groups: Vec<customer_group::Model>,
    last_guest_email: Option<String>,
    orders_generated: usize,
    /// Each order's number, by the order it is generated in (see [`order_numbers`]);
    /// without them orders get distinct negative placeholders.
    numbers: Option<Arc<Vec<u32>>>,
}

impl Generator {
    pub(super) fn new(count: usize) -> Self {
        let mut rng = Rng(0x00C1_1E27_E1E5);
        let epoch = Utc
            .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or_default();
        // Customers arrive across two years, in order.
        let spacing = TimeDelta::seconds((2 * 365 * 24 * 3600 / count.max(1)).max(1) as i64);
        let groups = GROUPS
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let created = epoch - TimeDelta::days(30 - i as i64);
                customer_group::Model {
                    id: rng.uuid_at(created),
                    name: (*name).to_owned(),
                    metadata: None,
                    created_at: created,
                    updated_at: created,
                    deleted_at: None,
                }
            })
            .collect();
        Self {
            rng,
            count,
            next: 0,
            epoch,
            spacing,
            groups,
            last_guest_email: None,
            orders_generated: 0,
            numbers: None,
        }
    }

    /// The same generator, numbering its orders with `numbers`.
    pub(super) fn numbered(count: usize, numbers: Arc<Vec<u32>>) -> Self {
        Self {
            numbers: Some(numbers),
            ..Self::new(count)
        }
    }

    /// The next `size` customers (fewer at the end), or `None` when all are out.
    pub(super) fn next_chunk(&mut self, size: usize) -> Option<Chunk> {
        if self.next >= self.count {
            return None;
        }
        let mut chunk = Chunk::default();
        let end = (self.next + size).min(self.count);
        for i in self.next..end {
            self.customer(i, &mut chunk);
        }
        self.next = end;
        Some(chunk)
    }

    fn customer(&mut self, i: usize, out: &mut Chunk) {
        let created = self.epoch + self.spacing * i as i32;
        let first = *self.rng.pick(&FIRST_NAMES);
        let last = *self.rng.pick(&LAST_NAMES);
        let has_account = self.rng.below(2) == 0;
        let own_email = format!(
            "{}.{}.{i}@example.com",
            first.to_lowercase(),
            last.to_lowercase().replace(' ', "")
        );
        // Some registered customers once ordered as guests with the same email (the
        // seeds' rule lets both records live). Each guest email is reused at most once:
        // two live registered customers cannot share one.
        let email = if has_account && self.rng.below(10) == 0 {
            self.last_guest_email.take().unwrap_or(own_email)
        } else {
            own_email
        };
        if !has_account {
            self.last_guest_email = Some(email.clone());
        }
        let customer_id = self.rng.uuid_at(created);
        let phone =
            (self.rng.below(3) > 0).then(|| format!("+49 30 {:07}", self.rng.below(10_000_000)));
        out.customers.push(customer::ActiveModel {
            id: Set(customer_id),
            email: Set(email.clone()),
            first_name: Set(Some(first.to_owned())),
            last_name: Set(Some(last.to_owned())),
            phone: Set(phone.clone()),
            has_account: Set(has_account),
            billing_address_id: Set(None),
            default_shipping_address_id: Set(None),
            disabled_at: Set(None),
            erased_at: Set(None),
            email_verified_at: Set(None),
            order_count: Set(0),
            last_order_at: Set(None),
            external_id: Set(None),
            metadata: Set(
                (self.rng.below(5) == 0).then(|| serde_json::json!({ "source": "seed" }).into())
            ),
            created_at: Set(created),
            updated_at: Set(created),
            deleted_at: Set(None),
        });

        let mut book = Vec::new();
        for n in 0..=self.rng.below(3) {
            let (city, country, postal) = *self.rng.pick(&CITIES);
            let snapshot = AddressSnapshot {
                first_name: Some(first.to_owned()),
                last_name: Some(last.to_owned()),
                company: (self.rng.below(6) == 0).then(|| format!("{last} & Co")),
                address_1: Some(format!("{} Market Street", 1 + self.rng.below(200))),
                address_2: (n > 0).then(|| format!("Apt {}", 1 + self.rng.below(40))),
                city: Some(city.to_owned()),
                province: None,
                postal_code: Some(postal.to_owned()),
                country_code: country.to_owned(),
                phone: phone.clone(),
            };
            let address_id = self.rng.uuid_at(created);
            out.addresses.push(address::ActiveModel {
                id: Set(address_id),
                customer_id: Set(customer_id),
                first_name: Set(snapshot.first_name.clone()),
                last_name: Set(snapshot.last_name.clone()),
                company: Set(snapshot.company.clone()),
                address_1: Set(snapshot.address_1.clone()),
                address_2: Set(snapshot.address_2.clone()),
                city: Set(snapshot.city.clone()),
                province: Set(None),
                postal_code: Set(snapshot.postal_code.clone()),
                country_code: Set(snapshot.country_code.clone()),
                phone: Set(snapshot.phone.clone()),
                metadata: Set(None),
                created_at: Set(created),
                updated_at: Set(created),
            });
            book.push((address_id, snapshot));
        }
        // Registered customers bill to the first address of their book. The key is set
        // before the address exists: the loader holds the foreign keys until the end.
        if has_account && let Some(billing) = out.customers.last_mut() {
            billing.billing_address_id = Set(Some(book[0].0));
        }
        let mut chosen: Vec<usize> = Vec::new();
        for _ in 0..self.rng.below(4) {
            let group = self.rng.below(self.groups.len());
            if !chosen.contains(&group) {
                chosen.push(group);
                out.memberships.push(customer_group_customer::ActiveModel {
                    customer_group_id: Set(self.groups[group].id),
                    customer_id: Set(customer_id),
                    created_at: Set(created),
                });
            }
        }

        // The customer's stored order numbers, written with the customer: as if each
        // order had gone through `stats::add_order` (the bulk load bypasses the domain).
        let mut spend: BTreeMap<&str, i64> = BTreeMap::new();
        let mut order_count = 0;
        let mut last_order_at = None;
        for _ in 0..self.rng.below(5) {
            let placed = created + TimeDelta::hours(1 + self.rng.below(24 * 200) as i64);
            let order_id = self.rng.uuid_at(placed);
            let currency = *self.rng.pick(&CURRENCIES);
            let items: Vec<line_item::Model> = (0..=self.rng.below(3))
                .map(|position| {
                    let (title, sku, price) = *self.rng.pick(&PRODUCTS);
                    let quantity = 1 + self.rng.below(3) as i32;
                    line_item::Model {
                        id: self.rng.uuid_at(placed),
                        order_id,
                        position: position as i32,
                        title: title.to_owned(),
                        sku: Some(sku.to_owned()),
                        quantity,
                        unit_price: price,
                        total: price * i64::from(quantity),
                    }
                })
                .collect();
            let subtotal = items.iter().map(|item| item.total).sum();
            let shipping = book[self.rng.below(book.len())].1.clone();
            let status = match self.rng.below(10) {
                0 => OrderStatus::Canceled,
                1 | 2 => OrderStatus::Pending,
                _ => OrderStatus::Completed,
            };
            let display_id = match &self.numbers {
                Some(numbers) => i64::from(numbers[self.orders_generated]),
                None => -(self.orders_generated as i64) - 1,
            };
            self.orders_generated += 1;
            order_count += 1;
            last_order_at = last_order_at.max(Some(placed));
            if crate::domain::stats::counts_toward_spend(status) {
                *spend.entry(currency).or_default() += subtotal;
            }
            out.orders.push(
                order::Model {
                    id: order_id,
                    display_id,
                    customer_id,
                    email: email.clone(),
                    status,
                    currency_code: currency.to_owned(),
                    subtotal,
                    total: subtotal,
                    billing_address: Some(book[0].1.clone()),
                    shipping_address: Some(shipping),
                    created_at: placed,
                    updated_at: placed,
                }
                .into(),
            );
            out.line_items.extend(items.into_iter().map(Into::into));
        }
        if let Some(customer) = out.customers.last_mut() {
            customer.order_count = Set(order_count);
            customer.last_order_at = Set(last_order_at);
        }
        out.spend.extend(
            spend
                .into_iter()
                .map(|(currency, amount)| customer_spend::ActiveModel {
                    customer_id: Set(customer_id),
                    currency_code: Set(currency.to_owned()),
                    amount: Set(amount),
                }),
        );
    }
}
