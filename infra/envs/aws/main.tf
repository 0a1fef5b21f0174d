# Deploys courier's topology and functions to AWS: `terraform init && terraform apply`.

terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}

provider "aws" {
  region = var.region
}

module "courier" {
  source         = "../../modules/aws"
  topology_file  = var.topology_file
  functions      = var.functions
  lambda_zip_dir = var.lambda_zip_dir
  alarm_actions  = var.alarm_actions
  tags           = { app = "courier" }
}
