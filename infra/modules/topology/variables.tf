variable "topology_file" {
  description = "Path of the courier topology file (YAML): the single source of truth for names, filters and dead-letter settings."
  type        = string
}
