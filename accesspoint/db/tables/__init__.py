"""One module per area of the node, each declaring its tables on `accesspoint.db.Base`."""
