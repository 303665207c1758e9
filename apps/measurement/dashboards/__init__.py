"""Review dashboards: the weekly RevOps review, the quarterly growth review and the funnel."""
