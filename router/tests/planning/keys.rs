//! Entity jumps and the keys they use (`plan/jump.rs`, `plan/keys.rs`).

use super::plan;

#[test]
fn a_field_of_another_subgraph_is_fetched_through_the_shared_key() {
    let books = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Query { books: [Book] }
        type Book @key(fields: "isbn") { isbn: ID! title: String }
    "#;
    let stock = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Book @key(fields: "isbn") { isbn: ID! copies: Int }
    "#;
    let plan = plan(&[("books", books), ("stock", stock)], "{ books { title copies } }");
    insta::assert_snapshot!(plan, @r#"
    Parallel {
      Fetch(service: "books") {
        query { books { title __typename isbn } }
      } then {
        Fetch(service: "stock", entity: Book, at: books, sends: { isbn }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Book { copies } } }
        }
      }
    }
    "#);
}

#[test]
fn a_compound_key_sends_every_key_field_in_the_representation() {
    let catalog = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Query { variants: [Variant] }
        type Variant @key(fields: "id sku") { id: ID! sku: String! colour: String }
    "#;
    let pricing = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Variant @key(fields: "id sku") { id: ID! sku: String! price: Int }
    "#;
    let plan = plan(&[("catalog", catalog), ("pricing", pricing)], "{ variants { colour price } }");
    insta::assert_snapshot!(plan, @r#"
    Parallel {
      Fetch(service: "catalog") {
        query { variants { colour __typename id sku } }
      } then {
        Fetch(service: "pricing", entity: Variant, at: variants, sends: { id sku }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Variant { price } } }
        }
      }
    }
    "#);
}

#[test]
fn a_nested_key_selects_the_key_fields_below_its_object_field() {
    let accounts = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Query { wallets: [Wallet] }
        type Wallet @key(fields: "owner { id }") { owner: Owner! currency: String }
        type Owner @key(fields: "id") { id: ID! }
    "#;
    let ledger = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Wallet @key(fields: "owner { id }") { owner: Owner! balance: Int }
        type Owner @key(fields: "id") { id: ID! }
    "#;
    let plan = plan(&[("accounts", accounts), ("ledger", ledger)], "{ wallets { currency balance } }");
    insta::assert_snapshot!(plan, @r#"
    Parallel {
      Fetch(service: "accounts") {
        query { wallets { currency __typename owner { id } } }
      } then {
        Fetch(service: "ledger", entity: Wallet, at: wallets, sends: { owner { id } }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Wallet { balance } } }
        }
      }
    }
    "#);
}

#[test]
fn a_key_the_source_cannot_give_is_fetched_from_a_third_subgraph_first() {
    // Shelves knows a parcel by its `id`, labels by its `barcode`; only tracking knows both.
    let shelves = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Query { parcels: [Parcel] }
        type Parcel @key(fields: "id") { id: ID! shelf: String }
    "#;
    let tracking = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Parcel @key(fields: "id") @key(fields: "barcode") { id: ID! barcode: String! }
    "#;
    let labels = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Parcel @key(fields: "barcode") { barcode: String! address: String }
    "#;
    let subgraphs = [("shelves", shelves), ("tracking", tracking), ("labels", labels)];
    let plan = plan(&subgraphs, "{ parcels { shelf address } }");
    insta::assert_snapshot!(plan, @r#"
    Parallel {
      Fetch(service: "shelves") {
        query { parcels { shelf __typename id } }
      } then {
        Fetch(service: "tracking", entity: Parcel, at: parcels, sends: { id }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Parcel { barcode } } }
        } afterAll {
          Fetch(service: "labels", entity: Parcel, at: parcels, sends: { barcode }) {
            query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Parcel { address } } }
          }
        }
      }
    }
    "#);
}

#[test]
fn of_several_keys_the_one_the_source_can_give_is_used() {
    let warehouse = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Query { pallets: [Item] }
        type Item @key(fields: "sku") { sku: String! location: String }
    "#;
    let catalog = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Item @key(fields: "id") @key(fields: "sku") { id: ID! sku: String! name: String }
    "#;
    let plan = plan(&[("warehouse", warehouse), ("catalog", catalog)], "{ pallets { location name } }");
    insta::assert_snapshot!(plan, @r#"
    Parallel {
      Fetch(service: "warehouse") {
        query { pallets { location __typename sku } }
      } then {
        Fetch(service: "catalog", entity: Item, at: pallets, sends: { sku }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Item { name } } }
        }
      }
    }
    "#);
}

#[test]
fn a_key_already_in_the_data_lets_an_entity_fetch_hand_its_objects_on() {
    // `id` is external in `reviews` and `tags`: neither can give it, but the objects reached them
    // through `catalog`'s data, which has it. `tags` gets its key from that data, after `reviews`
    // took the shared `details` object (whose `label` only `tags` resolves, and which has no key).
    let catalog = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Query { course(id: ID!): Course }
        type Course @key(fields: "id") { id: ID! title: String }
    "#;
    let reviews = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@shareable"])
        type Course @key(fields: "id") { id: ID! @external details: Details @shareable }
        type Details @shareable { stars: Int }
    "#;
    let tags = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@shareable"])
        type Course @key(fields: "id") { id: ID! @external details: Details @shareable }
        type Details @shareable { label: String }
    "#;
    let plan = plan(
        &[("catalog", catalog), ("reviews", reviews), ("tags", tags)],
        r#"{ course(id: "c1") { title details { stars label } } }"#,
    );
    insta::assert_snapshot!(plan, @r#"
    Parallel {
      Fetch(service: "catalog") {
        query { course(id: "c1") { title __typename id } }
      } then {
        Fetch(service: "reviews", entity: Course, at: course, sends: { id }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Course { details { stars } __typename } } }
        } then {
          Fetch(service: "tags", entity: Course, at: course, sends: { id }) {
            query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Course { details { label } } } }
          }
        }
      }
    }
    "#);
}

#[test]
fn a_key_assembled_from_two_subgraphs_is_fetched_before_the_jump() {
    // `pricing` wants `sku region`: `shop` gives `region`, and `sku` comes from `inventory`
    // (through `id`) first; no single subgraph has both. Then `pricing` is asked.
    let shop = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])
        type Query { featured: [Item] }
        type Item @key(fields: "id") { id: ID! name: String region: String! @shareable }
    "#;
    let inventory = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])
        type Item @key(fields: "id") { id: ID! sku: String! @shareable }
    "#;
    let pricing = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Item @key(fields: "sku region") { sku: String! region: String! price: Int }
    "#;
    let plan = plan(&[("shop", shop), ("inventory", inventory), ("pricing", pricing)], "{ featured { name price } }");
    insta::assert_snapshot!(plan, @r#"
    Parallel {
      Fetch(service: "shop") {
        query { featured { name __typename region id } }
      } then {
        Fetch(service: "inventory", entity: Item, at: featured, sends: { id }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Item { sku } } }
        } afterAll {
          Fetch(service: "pricing", entity: Item, at: featured, sends: { sku region }) {
            query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Item { price } } }
          }
        }
      }
    }
    "#);
}

#[test]
fn a_nested_key_assembled_from_list_items_is_fetched_before_the_jump() {
    // `promotions` keys a basket on its lines' `id sku`: `orders` gives the lines and their `id`,
    // `inventory` each line's `sku`; the basket's jump waits for both.
    let orders = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Query { basket: Basket }
        type Basket @key(fields: "lines { id }") { lines: [Item!]! }
        type Item @key(fields: "id") { id: ID! }
    "#;
    let inventory = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])
        type Item @key(fields: "id") { id: ID! sku: String! @shareable }
    "#;
    let promotions = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Basket @key(fields: "lines { id sku }") { lines: [Item!]! discount: Int }
        type Item @key(fields: "id sku") { id: ID! sku: String! }
    "#;
    let plan =
        plan(&[("orders", orders), ("inventory", inventory), ("promotions", promotions)], "{ basket { discount } }");
    insta::assert_snapshot!(plan, @r#"
    Parallel {
      Fetch(service: "orders") {
        query { basket { __typename lines { id __typename } } }
      } then {
        Fetch(service: "inventory", entity: Item, at: basket.lines, sends: { id }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Item { sku } } }
        } afterAll {
          Fetch(service: "promotions", entity: Basket, at: basket, sends: { lines { id sku } }) {
            query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Basket { discount } } }
          }
        }
      }
    }
    "#);
}
