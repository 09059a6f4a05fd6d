"""Real node-controller logs (nc.log, NC 1.6 to 4.4) read into records, and what the NC did to the node's disks
extracted from them, each with its provenance: replayable traces, inferred preludes and scenarios."""
