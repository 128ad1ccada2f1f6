"""One module per sidebar page. Each page is a QWidget built from an AppContext."""
