"""The fleet: serving what one bundle carries to many machines inside the air gap."""
