"""Proving the promises under fire: named crash points, private restartable servers, and the
`seawall chaos` scenarios that kill and restart processes while real traffic flows."""
