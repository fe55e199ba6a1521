"""City models: a real city's centre and extent, residential blocks, addresses, depots.

Deliveries cluster where people live densely: a city is a set of residential
blocks (apartment buildings around a courtyard, ~40-90 m across) whose density
falls off with distance from the centre, plus scattered houses in the outskirts.
Each building has several households; a household's address is stable, so the
same recipient is sometimes served by two carriers on the same day.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from lastmile.simulator.geo import offset


@dataclasses.dataclass(frozen=True)
class CitySpec:
    name: str
    lat: float
    lng: float
    radius_km: float  # built-up area
    ring_km: float  # ring road: fast traffic
    street_names: tuple[str, ...]


CITIES = {
    "berlin": CitySpec("Berlin", 52.5200, 13.4050, 12.0, 7.5,
                       ("Torstraße", "Invalidenstraße", "Schönhauser Allee", "Kastanienallee", "Danziger Straße",
                        "Greifswalder Straße", "Prenzlauer Allee", "Oranienstraße", "Sonnenallee", "Karl-Marx-Straße",
                        "Kantstraße", "Bergmannstraße", "Warschauer Straße", "Boxhagener Straße", "Müllerstraße")),
    "hamburg": CitySpec("Hamburg", 53.5511, 9.9937, 10.0, 6.0,
                        ("Mönckebergstraße", "Osterstraße", "Eppendorfer Weg", "Schanzenstraße", "Lange Reihe",
                         "Mühlenkamp", "Bahrenfelder Straße", "Wandsbeker Chaussee", "Hofweg", "Grindelallee")),
    "munich": CitySpec("München", 48.1351, 11.5820, 9.0, 5.5,
                       ("Leopoldstraße", "Schellingstraße", "Sendlinger Straße", "Lindwurmstraße", "Rosenheimer Straße",
                        "Landsberger Straße", "Dachauer Straße", "Belgradstraße", "Wörthstraße", "Nymphenburger Straße")),
    "cologne": CitySpec("Köln", 50.9375, 6.9603, 8.0, 5.0,
                        ("Venloer Straße", "Aachener Straße", "Zülpicher Straße", "Severinstraße", "Neusser Straße",
                         "Berliner Straße", "Luxemburger Straße", "Bonner Straße", "Dürener Straße", "Ehrenstraße")),
}


@dataclasses.dataclass
class City:
    spec: CitySpec
    # one row per household
    address_lat: np.ndarray
    address_lng: np.ndarray
    address_text: list[str]
    address_weight: np.ndarray  # relative chance of receiving a parcel on a given day
    address_block: np.ndarray  # block index, -1 for outskirts

    @property
    def size(self) -> int:
        return len(self.address_text)


def build_city(spec: CitySpec, rng: np.random.Generator, blocks: int = 6000, outskirts: int = 20000) -> City:
    """Households in ``blocks`` dense blocks and ``outskirts`` scattered houses."""
    lats, lngs, texts, weights, block_ids = [], [], [], [], []
    # Block centres: density falls off with distance (half-normal radius, most within ~radius/2).
    radius_m = np.abs(rng.normal(0.0, spec.radius_km * 1000 / 1.3, blocks)).clip(200, spec.radius_km * 1000)
    angle = rng.uniform(0, 2 * np.pi, blocks)
    block_lat, block_lng = offset(spec.lat, spec.lng, radius_m * np.cos(angle), radius_m * np.sin(angle))
    number = 1
    for b in range(blocks):
        street = spec.street_names[b % len(spec.street_names)]
        buildings = int(rng.integers(3, 9))
        spread = rng.uniform(20, 45)
        b_lat, b_lng = offset(block_lat[b], block_lng[b], rng.normal(0, spread, buildings), rng.normal(0, spread, buildings))
        popularity = rng.lognormal(0.0, 0.4)  # some blocks order much more than others
        for k in range(buildings):
            households = int(rng.integers(4, 17))
            for flat in range(households):
                lats.append(b_lat[k])
                lngs.append(b_lng[k])
                texts.append(f"{street} {number}, Whg. {flat + 1}, {spec.name}")
                weights.append(popularity)
                block_ids.append(b)
            number += 1
    r = rng.uniform(spec.radius_km * 500, spec.radius_km * 1000, outskirts)
    a = rng.uniform(0, 2 * np.pi, outskirts)
    o_lat, o_lng = offset(spec.lat, spec.lng, r * np.cos(a), r * np.sin(a))
    for i in range(outskirts):
        lats.append(o_lat[i])
        lngs.append(o_lng[i])
        texts.append(f"Am Stadtrand {i + 1}, {spec.name}")
        weights.append(0.5)
        block_ids.append(-1)
    weights_arr = np.asarray(weights)
    return City(spec, np.asarray(lats), np.asarray(lngs), texts, weights_arr / weights_arr.sum(),
                np.asarray(block_ids))


def depot_location(spec: CitySpec, rng: np.random.Generator) -> tuple[float, float]:
    """Depots sit in the outskirts, near the ring road or beyond it."""
    r = rng.uniform(spec.ring_km * 1000, spec.radius_km * 1000)
    a = rng.uniform(0, 2 * np.pi)
    lat, lng = offset(spec.lat, spec.lng, r * np.cos(a), r * np.sin(a))
    return float(lat), float(lng)


def speed_mps(spec: CitySpec, lat, lng, hour) -> np.ndarray:
    """Typical van speed by area and hour: congested centre, fast ring road, rush hours slower."""
    from lastmile.simulator.geo import haversine_m

    d_km = haversine_m(spec.lat, spec.lng, lat, lng) / 1000
    base = np.where(d_km < 2.0, 4.5,  # centre: ~16 km/h
                    np.where(d_km < spec.ring_km - 0.8, 7.5,  # inner districts: ~27 km/h
                             np.where(d_km < spec.ring_km + 0.8, 15.0, 10.5)))  # ring road ~54, outskirts ~38
    hour = np.asarray(hour) % 24
    rush = ((hour >= 7) & (hour < 9)) | ((hour >= 16) & (hour < 18.5))
    return base * np.where(rush, 0.65, 1.0)
