"""The passerelle (gateway): the suppliers' only door to the bus, checking each demand against its channel."""
