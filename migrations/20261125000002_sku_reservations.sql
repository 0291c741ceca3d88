-- SKU uniqueness across products is a rule no single aggregate can check. A create first
-- reserves its SKU here (the primary key is the arbiter between concurrent creates), then
-- stores its event; if storing fails the reservation is deleted again (compensation).
-- Archiving a product deletes its reservation so the SKU can be reused.
--
-- A process that dies between the two steps leaves a reservation without a product; such a
-- reservation, or one whose product is archived, is reclaimed by the next create of that SKU.
CREATE TABLE sku_reservations (
    sku         text        PRIMARY KEY,
    product_id  text        NOT NULL,
    reserved_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX sku_reservations_product_idx ON sku_reservations (product_id);
