"""Price books: instance shapes and prices for cloud pools."""
