"""netsim: a fault-injecting TCP proxy that plays the Hiri/Moti links on loopback.

``NetSim(load_profile("hiri"), upstream=("127.0.0.1", 8000), seed=1).start()`` returns the
port to point a client at.  See docs/connectivity.md.
"""

from app.netsim.profiles import DEFAULT_PROFILES_FILE, Profile, ProfileError, load_profile, load_profiles
from app.netsim.proxy import FaultEvent, FaultPlan, NetSim, NetSimStats

__all__ = ["DEFAULT_PROFILES_FILE", "FaultEvent", "FaultPlan", "NetSim", "NetSimStats", "Profile",
           "ProfileError", "load_profile", "load_profiles"]
